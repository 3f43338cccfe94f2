"""`decisions`: each trace's final decision against the expected action, field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.support import DbOption, err, fail, open_store, out
from chainjudge.core.schema import DecisionReport, Trace


def decisions(
    source: Annotated[list[str], typer.Argument(help="A stored run name, or trace files / directories.")],
    expected: Annotated[Path, typer.Option("--expected", help="Scenarios with expected actions (JSONL of {user, expected}).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    expected_source: Annotated[
        str,
        typer.Option(
            "--expected-source",
            help="policy: the contact policy's derived action; annotated: the action people recorded (imported states).",
        ),
    ] = "policy",
    db: DbOption = None,
) -> None:
    """Decision correctness: each trace's final decision against the expected action, field by field
    (action, channel, content language, offer), with Wilson 95% intervals overall and by segment,
    market, channel and perturbation, and the mismatches."""
    from chainjudge.packs.cep.decisions import load_scenarios, score

    try:
        scenarios = load_scenarios(expected)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    if expected_source not in ("policy", "annotated"):
        fail(f"--expected-source is policy or annotated, not {expected_source!r}")
    report = score(_traces(source, db), scenarios, expected_source)
    if as_json:
        print(json.dumps(report.model_dump(mode="json")))
        return
    _print_report(report, expected_source)


def _traces(source: list[str], db: str | None) -> list[Trace]:
    """A stored run's traces (the versions it judged), or the traces in the files given (bad records named)."""
    from chainjudge.pipeline import load_traces

    if len(source) == 1 and not Path(source[0]).exists():
        with open_store(db) as store:
            if store.get_run(source[0]) is None:
                fail(f"{source[0]!r} is neither a file nor a run in {store.location}")
            ids = sorted({j.trace_id for j in store.judgments(source[0])})
            return [t for t in (store.get_trace(i, run=source[0]) for i in ids) if t is not None]
    loaded = load_traces(source)
    for problem in loaded.errors:
        err.print(Text("skipped", style="yellow"), f"{problem}", highlight=False)
    return loaded.traces


def _print_report(report: DecisionReport, expected_source: str) -> None:
    o = report.overall
    out.print(
        f"decision accuracy against the {expected_source} expected actions: {o.accuracy:.1%} ({o.correct}/{o.total}), "
        f"95% Wilson interval [{o.low:.1%}, {o.high:.1%}]"
    )
    table = Table("by", "value", "correct", "accuracy", "95% interval")
    for dimension, values in report.by.items():
        for value, rate in values.items():
            table.add_row(dimension, value, f"{rate.correct}/{rate.total}", f"{rate.accuracy:.0%}", f"[{rate.low:.0%}, {rate.high:.0%}]")
    out.print(table)
    out.print("by field: " + ", ".join(f"{f} {r.accuracy:.0%}" for f, r in report.field_accuracy.items()))
    if report.mismatches:
        mism = Table("trace", "field", "expected", "decided", title="mismatches")
        for m in report.mismatches[:50]:
            mism.add_row(m.trace_id, m.field, str(m.expected), str(m.decided))
        out.print(mism)
    if report.missing_decision:
        missing = ", ".join(report.missing_decision[:10])
        err.print(Text(f"{len(report.missing_decision)} traces have no readable decision", style="yellow"), f"(counted wrong): {missing}")
    if report.unknown_scenario:
        unknown = ", ".join(report.unknown_scenario[:10])
        err.print(Text(f"{len(report.unknown_scenario)} traces match no scenario", style="yellow"), f"(not counted): {unknown}")
