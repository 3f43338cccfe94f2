"""CLI for journeys: `journeys generate`, `journeys check`, `journeys search`, `journeys fit-responses`
(`record --journeys` lives with `record` in cli/cep.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.support import DbOption, err, fail, open_store, out, report_rejected_rows

journeys_app = typer.Typer(no_args_is_help=True, help="Journeys: an agent deciding step by step against a simulated customer, "
                           "checks over the whole journey, and a failure-seeking search.")


def read_journey_traces(paths: list[Path]) -> list:
    """Journey traces from JSONL files; a line that is not a trace is reported and skipped."""
    from chainjudge.core.schema import Trace

    traces = []
    for path in paths:
        if not path.is_file():
            fail(f"{path}: no such file")
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                traces.append(Trace.model_validate_json(line))
            except ValueError as exc:
                err.print(Text("skipped", style="yellow"), f"{path}: line {number}: not a trace ({str(exc).splitlines()[0][:160]})", highlight=False)
    return traces


def load_response_model(path: Optional[Path]):
    from chainjudge.core.yamlfile import YamlFileError, load_model
    from chainjudge.packs.cep.customer import ResponseModel

    if path is None:
        return ResponseModel()
    try:
        return load_model(path, ResponseModel)
    except YamlFileError as exc:
        fail(str(exc))


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
    from chainjudge.core.atomic import write_text_atomic
    from chainjudge.packs.cep.journey_generator import generate_journeys

    journeys = generate_journeys(seed=seed, per_cell=per_cell, combinations=combinations)
    write_text_atomic(out_file, "".join(j.model_dump_json() + "\n" for j in journeys))
    out.print(f"{len(journeys)} journeys written to {out_file}")


def print_summary(summary, title: str = "journeys") -> None:
    out.print(f"{title}: {summary.journeys} journeys, {summary.failed} failed: failure rate {summary.failure_rate:.1%} "
              f"(95% Wilson [{summary.failure_low:.1%}, {summary.failure_high:.1%}])")
    if summary.by_check:
        table = Table("check", "journeys failing it", title="findings by check")
        for check, count in summary.by_check.items():
            table.add_row(check, str(count))
        out.print(table)
    if summary.by_step:
        out.print("findings by journey step: " + ", ".join(f"{step} {n}" for step, n in summary.by_step.items()))
    cells = Table("journey kind / perturbation", "failed", "journeys", "rate", title="by cell")
    for cell, (failed, total) in summary.by_cell.items():
        cells.add_row(cell, str(failed), str(total), f"{failed / total:.0%}" if total else "-")
    out.print(cells)
    out.print(f"{len(summary.modes)} distinct failure modes (check @ kind/perturbations)")
    if summary.pass_hat_k:
        out.print("pass^k over repeated runs: " + ", ".join(f"k={k} {v:.2f}" for k, v in summary.pass_hat_k))
    out.print(f"simulator inconsistencies (the harness's, not the agent's): {summary.simulator_inconsistent}/{summary.journeys} journeys "
              f"(95% Wilson [{summary.simulator_low:.1%}, {summary.simulator_high:.1%}])")
    for example in summary.simulator_examples:
        err.print(Text("simulator", style="red"), example, highlight=False)


@journeys_app.command("import")
def import_cmd(
    events: Annotated[Path, typer.Argument(help="The event log: CSV, JSONL or Parquet, one event per row (customer id, time, event, and optional channel, consent, language).")],
    states: Annotated[Path, typer.Option("--states", help="The customers' starting states: the JSONL `scenarios import` wrote from the same customers.")],
    mapping_file: Annotated[Path, typer.Option("--mapping", help="Events mapping YAML: which columns hold what, and which event values are decisions or script events (see examples/cdp-events-mapping.yaml).")],
    out_file: Annotated[Path, typer.Option("--out", help="Journeys JSONL to write.")] = Path("imported-journeys.jsonl"),
    show: Annotated[int, typer.Option(min=0, help="Rejected rows to list here; all of them go to the rejects file.")] = 20,
    db: DbOption = None,
) -> None:
    """Journeys from a team's own history: each customer's imported state is the start, the log's events
    after it the script, its decision rows (a campaign's send slot, a next-best-action call) the decision
    points. Ids are pseudonymised with the key `scenarios import` used (kept in the local store), so both
    files meet without a raw id being written. Exit 1 when rows were rejected."""
    from chainjudge.core.atomic import check_output_path, write_text_atomic
    from chainjudge.core.yamlfile import YamlFileError
    from chainjudge.packs.cep.decisions import load_scenarios
    from chainjudge.packs.cep.history import HistoryFileError
    from chainjudge.packs.cep.journey_history import import_journeys, load_event_mapping

    check_output_path(out_file)
    if not events.is_file():
        fail(f"{events}: no such file")
    try:
        mapping = load_event_mapping(mapping_file)
        starting = {sid: s.user for sid, s in load_scenarios(states).items()}
    except (YamlFileError, ValueError, OSError) as exc:
        fail(str(exc))
    from chainjudge.packs.cep.history import PSEUDONYM_SECRET

    with open_store(db) as store:
        key = store.local_secret(PSEUDONYM_SECRET)
    try:
        journeys, report = import_journeys(events, mapping, starting, key)
    except HistoryFileError as exc:
        fail(str(exc))
    write_text_atomic(out_file, "".join(j.model_dump_json() + "\n" for j in journeys))
    out.print(f"{report.journeys} journeys ({report.decisions} decision points, {report.events} script events) from {report.rows} rows "
              f"written to {out_file}", highlight=False)
    out.print(f"customers without an imported state: {report.no_state}; without a decision after their snapshot: {len(report.no_decision)}; "
              f"events before the snapshot (already in the state): {report.before_snapshot}; ignored by the mapping: "
              + (", ".join(f"{k} {v}" for k, v in report.ignored.most_common()) or "none"), highlight=False)
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
    from chainjudge.packs.cep.journey_findings import evaluate_all, summarize

    outcomes, skipped = evaluate_all(read_journey_traces(traces))
    if not outcomes:
        fail("no journey traces in " + ", ".join(str(p) for p in traces) + " (record them with `record --journeys`)")
    summary = summarize(outcomes, skipped)
    if as_json:
        print(json.dumps({"summary": summary.model_dump(mode="json"),
                          "journeys": [o.model_dump(mode="json") for o in outcomes]}))
    else:
        print_summary(summary)
        if skipped:
            err.print(Text(f"{len(skipped)} traces are not journeys", style="yellow"), f"(not counted): {', '.join(skipped[:10])}", highlight=False)
    if summary.failed or summary.simulator_inconsistent:
        raise typer.Exit(1)


@journeys_app.command("search")
def search_cmd(
    agent: Annotated[str, typer.Option("--agent", help="module:callable honouring the agent contract (a third `history` argument gets the journey so far).")],
    budget: Annotated[int, typer.Option(min=1, help="How many journeys to record in all.")] = 200,
    out_file: Annotated[Path, typer.Option("--out", help="Journey trace JSONL; appended to, and a search already there is resumed.")] = Path("traces/journeys/search.jsonl"),
    strategy: Annotated[str, typer.Option(help="thompson: a uniform first pass, then where failures concentrate; uniform: the whole budget uniformly.")] = "thompson",
    uniform_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of the budget spent uniformly first.")] = 0.3,
    batch: Annotated[int, typer.Option(min=1, help="Journeys drawn between updates of the proposal.")] = 10,
    floor: Annotated[float, typer.Option(min=0.01, max=1.0, help="Share of every draw kept uniform, so no cell is starved and weights stay bounded.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the draws and of the simulated customer.")] = 0,
    model: Annotated[str, typer.Option(help="'local' (the offline model), 'none' (an agent that calls no model), or a litellm model string.")] = "none",
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --model.")] = None,
    response_model: Annotated[Optional[Path], typer.Option(help="The simulated customer's response model (YAML from `journeys fit-responses`); default rates otherwise.")] = None,
    timeout_s: Annotated[float, typer.Option(help="Per-decision time limit; past it the journey is marked failed.")] = 600.0,
) -> None:
    """Failure-seeking search over the journey space (kind x perturbation): a uniform first pass, then
    Thompson sampling over the cells where the checks found failures, with a uniform floor. Every journey
    carries the probability it was drawn with, so the failure rate printed (and any rate recomputed from
    the traces) is importance-weighted and unbiased for the uniform space."""
    from chainjudge.packs.cep.journey_generator import cells
    from chainjudge.packs.cep.journey_search import SearchState, resume, search
    from chainjudge.packs.cep.recording import load_agent

    if strategy not in ("thompson", "uniform"):
        fail(f"--strategy is thompson or uniform, not {strategy!r}")
    try:
        callable_agent = load_agent(agent)
    except (ImportError, ValueError, OSError) as exc:
        fail(str(exc))
    responses = load_response_model(response_model)
    state = resume(read_journey_traces([out_file]), cells()) if out_file.exists() else SearchState(cells())
    out.print(f"{len(state.outcomes)} journeys already in {out_file}; budget {budget}")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with _llm(model, api_base, out_file.parent) as llm, out_file.open("a", encoding="utf-8") as handle:
        for trace in search(callable_agent, llm, budget, strategy=strategy, uniform_share=uniform_share, batch=batch, floor=floor,
                            seed=seed, model=responses, timeout_s=timeout_s, state=state):
            handle.write(trace.model_dump_json() + "\n")
            handle.flush()
            outcome = state.outcomes[-1]
            out.print(f"[{len(state.outcomes)}/{budget}] {trace.id} {trace.metadata.get('search_phase')} "
                      f"{'/'.join(trace.metadata.get('search_cell') or [])}: {'FAILED' if outcome.failed else 'passed'}", highlight=False)  # type: ignore[arg-type]
    if not state.outcomes:
        fail("no journey was recorded")
    estimate, low, high = state.estimate()
    failed = sum(o.failed for o in state.outcomes)
    out.print(f"{failed}/{len(state.outcomes)} journeys failed; importance-weighted failure rate over the uniform space "
              f"{estimate:.1%} (95% [{low:.1%}, {high:.1%}])")
    table = Table("cell", "journeys", "failed", "last proposal", title="where the search looked")
    for cell, (cell_failed, total) in sorted(state.counts.items(), key=lambda kv: -kv[1][1]):
        table.add_row("/".join(cell), str(total), str(cell_failed), f"{state.last_proposal.get(cell, 0):.3f}")
    out.print(table)


@journeys_app.command("fit-responses")
def fit_responses(
    outcomes: Annotated[Path, typer.Argument(help="Logged messages: CSV or JSONL with channel and 0/1 opened, clicked, converted, unsubscribed (any subset), optionally segment.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the response model (YAML).")] = Path("response-model.yaml"),
    prior: Annotated[float, typer.Option(min=0.0, help="Pseudo-messages each fitted rate is shrunk with towards the default.")] = 20.0,
) -> None:
    """Fit the simulated customer's response rates from a team's logged outcomes (open, click, conversion
    and unsubscribe rates per channel and segment), for `record --journeys --response-model`."""
    import csv

    import yaml

    from chainjudge.core.atomic import write_text_atomic
    from chainjudge.packs.cep.customer import fit_response_model

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


def _llm(model: str, api_base: Optional[str], log_folder: Path):
    """An LLMConfig for the agent, starting the offline model's server for 'local' (and stopping it)."""
    import os
    from contextlib import contextmanager

    from chainjudge.packs.cep.recording import LLMConfig

    @contextmanager
    def started():
        if model == "local":
            from chainjudge.core.judges.local import MODEL_ALIAS, LocalServer, ensure_model

            with LocalServer(ensure_model(), log_path=log_folder / "agent-server.log") as server:
                yield LLMConfig(model=f"openai/{MODEL_ALIAS}", api_base=server.api_base, api_key=os.environ.get("CHAINJUDGE_API_KEY"))
        else:
            yield LLMConfig(model=model, api_base=api_base, api_key=os.environ.get("CHAINJUDGE_API_KEY"))

    return started()
