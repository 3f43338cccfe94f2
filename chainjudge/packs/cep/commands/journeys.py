"""`journeys`: generated or imported journey scenarios, the journey checks over recorded journeys, and the
customer's response model fitted from logged outcomes (`journeys search` is in journey_search.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.text import Text

import chainjudge.packs.cep.commands.journey_options as opt
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, err, fail, open_store, out, report_rejected_rows
from chainjudge.core.atomic import check_output_path, write_text_atomic
from chainjudge.core.yamlfile import YamlFileError
from chainjudge.packs.cep.commands.support import print_summary, read_journey_traces

journeys_app = typer.Typer(
    no_args_is_help=True,
    help="Journeys: an agent deciding step by step against a simulated customer, "
    "checks over the whole journey, and a failure-seeking search.",
)


@journeys_app.command("generate")
def generate(
    out_file: opt.OutFileOption = Path("journeys.jsonl"),
    seed: opt.SeedOption = 7,
    per_cell: opt.PerCellOption = 1,
    combinations: opt.CombinationsOption = True,
) -> None:
    """Generate journey scenarios: every journey kind (onboarding, win-back, sale campaign) with every
    perturbation (device switch, language change, conversion elsewhere, unsubscribe, consent withdrawn or
    granted, channel switch, quiet-hours crossing, sale window, in-app browser, shared account) and the
    risky combinations, each a starting state, a script of events over six days and four decision points."""
    from chainjudge.packs.cep.journey_generator import generate_journeys

    journeys = generate_journeys(seed=seed, per_cell=per_cell, combinations=combinations)
    write_text_atomic(out_file, "".join(j.model_dump_json() + "\n" for j in journeys))
    out.print(f"{len(journeys)} journeys written to {out_file}")


@dataclass(frozen=True, kw_only=True)
class JourneysImportOptions:
    """What `journeys import` is asked: its options, parsed into one request."""

    events: opt.EventsOption
    states: opt.StatesOption
    mapping_file: opt.MappingFileOption
    out_file: opt.ImportCmdOutFileOption = Path("imported-journeys.jsonl")
    show: opt.ShowOption = 20
    db: DbOption = None


@journeys_app.command("import")
@from_options(JourneysImportOptions)
def import_cmd(args: JourneysImportOptions) -> None:
    """Journeys from a team's own history: each customer's imported state is the start, the log's events
    after it the script, its decision rows (a campaign's send slot, a next-best-action call) the decision
    points. Ids are pseudonymised with the key `scenarios import` used (kept in the local store), so both
    files meet without a raw id being written. Exit 1 when rows were rejected."""
    from chainjudge.packs.cep.decisions import load_scenarios
    from chainjudge.packs.cep.journey_history import import_journeys, load_event_mapping
    from chainjudge.packs.cep.state_import import PSEUDONYM_SECRET, HistoryFileError

    check_output_path(args.out_file)
    if not args.events.is_file():
        fail(f"{args.events}: no such file")
    try:
        mapping = load_event_mapping(args.mapping_file)
        starting = {sid: s.user for sid, s in load_scenarios(args.states).items()}
    except (YamlFileError, ValueError, OSError) as exc:
        fail(str(exc))

    with open_store(args.db) as store:
        key = store.local_secret(PSEUDONYM_SECRET)
    try:
        journeys, report = import_journeys(args.events, mapping, starting, key)
    except HistoryFileError as exc:
        fail(str(exc))
    write_text_atomic(args.out_file, "".join(j.model_dump_json() + "\n" for j in journeys))
    _print_imported(report, args.out_file, args.show)
    if report.errors:
        report_rejected_rows(args.events, report.errors, args.out_file.with_name(args.out_file.stem + ".rejects.jsonl"), args.show)
        raise typer.Exit(1)


def _print_imported(report, out_file: Path, show: int) -> None:
    """What the import made, what it left out and why (the first SHOW journeys left out, by reason)."""
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


@journeys_app.command("check")
def check(
    traces: opt.TracesOption,
    as_json: opt.AsJsonOption = False,
) -> None:
    """The journey checks over recorded journeys (frequency caps across days and channels, nothing sent
    after a conversion or an unsubscribe, consent as it stands at each send, quiet hours in local time,
    the latest language, channel switches, offers, campaign windows), pass^k over repeats, and the
    simulated customer's own consistency, reported apart. Exit 1 when a journey fails or the simulator
    contradicted itself."""
    from chainjudge.packs.cep.journey_findings import evaluate_all, summarize

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
