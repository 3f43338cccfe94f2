"""`journeys`: generated or imported journey scenarios, the journey checks over recorded journeys, and the
customer's response model fitted from logged outcomes (`journeys search` is in journey_search.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.text import Text

from chainjudge.cli.support import DbOption, err, fail, open_store, out, report_rejected_rows
from chainjudge.core.atomic import check_output_path, write_text_atomic
from chainjudge.core.yamlfile import YamlFileError
from chainjudge.packs.cep.commands.support import print_summary, read_journey_traces
from chainjudge.packs.cep.customer import fit_response_model
from chainjudge.packs.cep.decisions import load_scenarios
from chainjudge.packs.cep.journey_findings import evaluate_all, summarize
from chainjudge.packs.cep.journey_generator import generate_journeys
from chainjudge.packs.cep.journey_history import import_journeys, load_event_mapping
from chainjudge.packs.cep.state_import import PSEUDONYM_SECRET, HistoryFileError

journeys_app = typer.Typer(
    no_args_is_help=True,
    help="Journeys: an agent deciding step by step against a simulated customer, "
    "checks over the whole journey, and a failure-seeking search.",
)


@journeys_app.command("generate")
def generate(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the journeys (JSONL).")] = Path("journeys.jsonl"),
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 7,
    per_cell: Annotated[int, typer.Option(min=1, help="Journeys per kind x perturbation cell.")] = 1,
    combinations: Annotated[bool, typer.Option(help="Add the risky combinations of perturbations, once per kind.")] = True,
) -> None:
    """Generate journey scenarios: every journey kind (onboarding, win-back, sale campaign) with every
    perturbation (device switch, language change, conversion elsewhere, unsubscribe, consent withdrawn or
    granted, channel switch, quiet-hours crossing, sale window, in-app browser, shared account) and the
    risky combinations, each a starting state, a script of events over six days and four decision points."""
    journeys = generate_journeys(seed=seed, per_cell=per_cell, combinations=combinations)
    write_text_atomic(out_file, "".join(j.model_dump_json() + "\n" for j in journeys))
    out.print(f"{len(journeys)} journeys written to {out_file}")


@journeys_app.command("import")
def import_cmd(
    events: Annotated[
        Path,
        typer.Argument(
            help="The event log: CSV, JSONL or Parquet, one event per row (customer id, time, event, and optional channel, consent, "
            "language)."
        ),
    ],
    states: Annotated[
        Path, typer.Option("--states", help="The customers' starting states: the JSONL `scenarios import` wrote from the same customers.")
    ],
    mapping_file: Annotated[
        Path,
        typer.Option(
            "--mapping",
            help="Events mapping YAML: which columns hold what, and which event values are decisions or script events (see "
            "examples/cdp-events-mapping.yaml).",
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Journeys JSONL to write.")] = Path("imported-journeys.jsonl"),
    show: Annotated[int, typer.Option(min=0, help="Rejected rows to list here; all of them go to the rejects file.")] = 20,
    db: DbOption = None,
) -> None:
    """Journeys from a team's own history: each customer's imported state is the start, the log's events
    after it the script, its decision rows (a campaign's send slot, a next-best-action call) the decision
    points. Ids are pseudonymised with the key `scenarios import` used (kept in the local store), so both
    files meet without a raw id being written. Exit 1 when rows were rejected."""
    check_output_path(out_file)
    if not events.is_file():
        fail(f"{events}: no such file")
    try:
        mapping = load_event_mapping(mapping_file)
        starting = {sid: s.user for sid, s in load_scenarios(states).items()}
    except (YamlFileError, ValueError, OSError) as exc:
        fail(str(exc))

    with open_store(db) as store:
        key = store.local_secret(PSEUDONYM_SECRET)
    try:
        journeys, report = import_journeys(events, mapping, starting, key)
    except HistoryFileError as exc:
        fail(str(exc))
    write_text_atomic(out_file, "".join(j.model_dump_json() + "\n" for j in journeys))
    out.print(
        f"{report.journeys} journeys ({report.decisions} decision points, {report.events} script events) from {report.rows} rows "
        f"written to {out_file}",
        highlight=False,
    )
    out.print(
        f"customers without an imported state: {report.no_state}; without a decision after their snapshot: {len(report.no_decision)}; "
        f"events before the snapshot (already in the state): {report.before_snapshot}; ignored by the mapping: "
        + (", ".join(f"{k} {v}" for k, v in report.ignored.most_common()) or "none"),
        highlight=False,
    )
    for reason in report.rejected[:show]:
        err.print(Text("journey left out", style="yellow"), reason, highlight=False)
    if report.errors:
        report_rejected_rows(events, report.errors, out_file.with_name(out_file.stem + ".rejects.jsonl"), show)
        raise typer.Exit(1)


@journeys_app.command("check")
def check(
    traces: Annotated[list[Path], typer.Argument(help="Journey trace files (JSONL from `record --journeys` or `journeys search`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary and each journey's findings as JSON.")] = False,
) -> None:
    """The journey checks over recorded journeys (frequency caps across days and channels, nothing sent
    after a conversion or an unsubscribe, consent as it stands at each send, quiet hours in local time,
    the latest language, channel switches, offers, campaign windows), pass^k over repeats, and the
    simulated customer's own consistency, reported apart. Exit 1 when a journey fails or the simulator
    contradicted itself."""
    outcomes, skipped = evaluate_all(read_journey_traces(traces))
    if not outcomes:
        fail("no journey traces in " + ", ".join(str(p) for p in traces) + " (record them with `record --journeys`)")
    summary = summarize(outcomes, skipped)
    if as_json:
        print(json.dumps({"summary": summary.model_dump(mode="json"), "journeys": [o.model_dump(mode="json") for o in outcomes]}))
    else:
        print_summary(summary)
        if skipped:
            err.print(
                Text(f"{len(skipped)} traces are not journeys", style="yellow"),
                f"(not counted): {', '.join(skipped[:10])}",
                highlight=False,
            )
    if summary.failed or summary.simulator_inconsistent:
        raise typer.Exit(1)


@journeys_app.command("fit-responses")
def fit_responses(
    outcomes: Annotated[
        Path,
        typer.Argument(
            help="Logged messages: CSV or JSONL with channel and 0/1 opened, clicked, converted, unsubscribed (any subset), optionally "
            "segment."
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the response model (YAML).")] = Path("response-model.yaml"),
    prior: Annotated[float, typer.Option(min=0.0, help="Pseudo-messages each fitted rate is shrunk with towards the default.")] = 20.0,
) -> None:
    """Fit the simulated customer's response rates from a team's logged outcomes (open, click, conversion
    and unsubscribe rates per channel and segment), for `record --journeys --response-model`."""

    if not outcomes.is_file():
        fail(f"{outcomes}: no such file")
    text = outcomes.read_text(encoding="utf-8", errors="replace")
    rows: list[dict] = []
    if outcomes.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    value = json.loads(line)
                except json.JSONDecodeError:
                    err.print(Text("skipped", style="yellow"), f"{outcomes}: line {number}: not JSON", highlight=False)
                    continue
                if isinstance(value, dict):
                    rows.append(value)
    else:
        try:
            rows = list(csv.DictReader(text.splitlines()))
        except csv.Error as exc:
            fail(f"{outcomes}: not a readable CSV ({exc})")
    try:
        model = fit_response_model(rows, prior=prior)
    except ValueError as exc:
        fail(f"{outcomes}: {exc}")
    write_text_atomic(out_file, yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False))
    out.print(f"response model {model.source} written to {out_file}")
