"""Reading stored runs: `runs` (every run with its counts) and `show` (one run: pass rates per criterion, errors,
cost, trust against people's labels, and what its verifiers may be trusted for)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.app import app
from chainjudge.cli.support import DbOption, open_store, out

if TYPE_CHECKING:
    from chainjudge.workflows.golive import RunCalibration
    from chainjudge.workflows.runs import RunView


@app.command()
def runs(db: DbOption = None) -> None:
    """List stored runs with their counts."""
    with open_store(db) as store:
        summaries = store.runs()
    if not summaries:
        out.print("no runs yet: chainjudge judge TRACES --rubric FILE")
        return
    table = Table("run", "rubric", "judge", "created", "judgments", "pass rate", "errors", "cost $")
    for s in summaries:
        rate = f"{s.passed / s.scored:.1%}" if s.scored else "-"
        table.add_row(s.name, s.rubric_id, s.judge, s.created_at[:19], str(s.judgments), rate, str(s.errors), f"{s.cost_usd:.4f}")
    out.print(table)


@app.command()
def show(run: Annotated[str, typer.Argument(help="Run name.")], db: DbOption = None) -> None:
    """Pass rates per criterion, errors and cost of one run."""
    from chainjudge.workflows.runs import run_view

    with open_store(db) as store:
        view = run_view(store, run)
    stored, calibrated = view.run, view.calibrated
    out.print(f"run {run}: rubric {stored.rubric_id}@{stored.rubric_hash}, judge {stored.judge.model}", highlight=False)
    out.print(_criteria_table(view))
    if calibrated.reports:
        out.print(_calibration_table(calibrated))
    for verifier in view.verifiers:
        verifier_statement(verifier, view.abstained.get(verifier.criterion, 0))
    for criterion, report in calibrated.reports.items():
        if report.trust != "trusted":
            out.print(f"{criterion}: {report.trust} ({report.trust_rule}): {report.trust_basis}", highlight=False)
    if view.errors:
        out.print("errors by kind: " + ", ".join(f"{k} {n}" for k, n in view.errors.items()))
    if view.flagged:
        out.print(
            Text(f"{view.flagged} judgments are on steps flagged as possible prompt injection", style="yellow"),
            ": a person should check them (export: the 'flags' column)",
            sep="",
        )


def _criteria_table(view: RunView) -> Table:
    trust = {r.criterion: r.trust for r in view.calibrated.rows}
    table = Table("criterion", "judged", "scored", "passed", "pass rate", "errors", "cost $", "trust")
    for r in view.criteria:
        rate = f"{r.pass_rate:.1%}" if r.pass_rate is not None else "-"
        table.add_row(
            r.criterion_id,
            str(r.judgments),
            str(r.scored),
            str(r.passed),
            rate,
            str(r.errors),
            f"{r.cost_usd:.4f}",
            trust.get(r.criterion_id, "-"),
        )
    return table


def _calibration_table(calibrated: RunCalibration) -> Table:
    from chainjudge.analysis.figures import format_estimate as fmt

    rates = {r.criterion: r for r in calibrated.corrected}
    table = Table(
        "criterion",
        "TPR (failing)",
        "TNR",
        "raw failure rate",
        "corrected failure rate",
        "prediction-powered failure rate",
        title="against the reference labels (one per item); corrected = Rogan-Gladen for the judge's TPR / TNR; "
        "prediction-powered = the judge on every item, rectified by people's labels",
    )
    for criterion, report in calibrated.reports.items():
        corrected = rates.get(criterion)
        ppi = corrected.ppi_failure_rate if corrected else None
        table.add_row(
            criterion,
            fmt(report.tpr, 1, 2),
            fmt(report.tnr, 1, 2),
            fmt(corrected.raw_failure_rate, 1, 2) if corrected else "-",
            fmt(corrected.corrected_failure_rate, 1, 2) if corrected else "-",
            fmt(ppi, 1, 2) if ppi else "-",
        )
    return table


def verifier_statement(verifier, abstained: int) -> None:
    """What a verifier's decisions in this run may be trusted for: a share, at its guarantee."""
    sel = verifier.selective
    guarantee = (
        "no guarantee (no confidence cut met its target on tune: it decided nothing)"
        if sel.confidence is None
        else f"agreement >= {sel.target:.0%} with people on what it decides, at risk {sel.risk:g} "
        f"(decided {sel.decided_share:.0%} of tune steps out of fold)"
    )
    out.print(
        f"verifier {verifier.tag} on {verifier.criterion}: {guarantee}; {abstained} steps it abstained on are "
        f"unknown until people label them (review queue, first). Agreement above is against every reference "
        f"label, tune ones included; the held-out figure: chainjudge verifier test {verifier.name}",
        highlight=False,
    )
