"""CLI for the CEP decision pack: `decisions` and `scenarios`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.support import DbOption, err, fail, open_store, out


def decisions(
    source: Annotated[list[str], typer.Argument(help="A stored run name, or trace files / directories.")],
    expected: Annotated[Path, typer.Option("--expected", help="Scenarios with expected actions (JSONL of {user, expected}).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    expected_source: Annotated[str, typer.Option("--expected-source", help="policy: the contact policy's derived action; annotated: the action people recorded (imported states).")] = "policy",
    db: DbOption = None,
) -> None:
    """Decision correctness: each trace's final decision against the expected action, field by field
    (action, channel, content language, offer), with Wilson 95% intervals overall and by segment,
    market, channel and perturbation, and the mismatches."""
    from chainjudge.packs.cep.decisions import load_scenarios, score
    from chainjudge.pipeline import load_traces

    try:
        scenarios = load_scenarios(expected)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    if len(source) == 1 and not Path(source[0]).exists():
        with open_store(db) as store:
            if store.get_run(source[0]) is None:
                fail(f"{source[0]!r} is neither a file nor a run in {store.location}")
            ids = sorted({j.trace_id for j in store.judgments(source[0])})
            traces = [t for t in (store.get_trace(i, run=source[0]) for i in ids) if t is not None]
    else:
        loaded = load_traces(source)
        for problem in loaded.errors:
            err.print(Text("skipped", style="yellow"), f"{problem}", highlight=False)
        traces = loaded.traces
    if expected_source not in ("policy", "annotated"):
        fail(f"--expected-source is policy or annotated, not {expected_source!r}")
    report = score(traces, scenarios, expected_source)
    if as_json:
        print(json.dumps(report.model_dump(mode="json")))
        return
    o = report.overall
    out.print(f"decision accuracy against the {expected_source} expected actions: {o.accuracy:.1%} ({o.correct}/{o.total}), "
              f"95% Wilson interval [{o.low:.1%}, {o.high:.1%}]")
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
        err.print(Text(f"{len(report.missing_decision)} traces have no readable decision", style="yellow"), f"(counted wrong): {', '.join(report.missing_decision[:10])}")
    if report.unknown_scenario:
        err.print(Text(f"{len(report.unknown_scenario)} traces match no scenario", style="yellow"), f"(not counted): {', '.join(report.unknown_scenario[:10])}")


scenarios_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                            help="CEP user-state scenarios: generated (no sub-command) or imported from history (`import`).")


@scenarios_app.callback()
def scenarios(
    ctx: typer.Context,
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the scenarios (JSONL).")] = Path("scenarios.jsonl"),
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 7,
) -> None:
    """Generate CEP user-state scenarios (pairwise coverage plus a third adversarial variants) with the
    expected action the contact policy derives for each; `scenarios import` reads real ones instead."""
    if ctx.invoked_subcommand is not None:
        return
    from chainjudge.core.atomic import write_text_atomic
    from chainjudge.packs.cep.generator import generate

    generated = generate(seed=seed)
    write_text_atomic(out_file, "\n".join(s.model_dump_json() for s in generated) + "\n")
    adversarial = sum(1 for s in generated if s.user.perturbations)
    out.print(f"{len(generated)} scenarios ({adversarial} adversarial) written to {out_file}")


def record(
    agent: Annotated[str, typer.Option("--agent", help="module:callable honouring the agent contract (see chainjudge.packs.cep.recording).")],
    scenarios_file: Annotated[Optional[Path], typer.Option("--scenarios", help="Scenarios (JSONL of {user, expected}): one decision each.")] = None,
    journeys_file: Annotated[Optional[Path], typer.Option("--journeys", help="Journeys (JSONL from `journeys generate`): the agent decides step by step against a simulated customer.")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Native trace JSONL; appended to, what is already recorded is skipped. Default traces/cep/traces.jsonl, or traces/journeys/journeys.jsonl with --journeys.")] = None,
    model: Annotated[str, typer.Option(help="'local' (the offline model), 'none' (an agent that calls no model) or any litellm model string.")] = "local",
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --model.")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Record at most N scenarios (journeys).")] = None,
    timeout_s: Annotated[float, typer.Option(help="Per-scenario (per-decision, for journeys) time limit; past it the trace is marked failed.")] = 600.0,
    repeats: Annotated[int, typer.Option(min=1, help="Journeys: runs of each journey (pass^k needs k or more).")] = 1,
    seed: Annotated[int, typer.Option(help="Journeys: the simulated customer's seed; the same seed and decisions replay the same journey.")] = 0,
    response_model: Annotated[Optional[Path], typer.Option(help="Journeys: the customer's response model (YAML from `journeys fit-responses`).")] = None,
) -> None:
    """Run an agent over scenarios (one decision each) or journeys (step by step against a simulated
    customer) and write native traces with its tool calls, reasoning and decisions, the model and the
    date in each. Resumable: re-running skips what is recorded."""
    from chainjudge.core.schema import Trace
    from chainjudge.packs.cep.recording import load_agent

    if (scenarios_file is None) == (journeys_file is None):
        fail("give one of --scenarios FILE (single decisions) or --journeys FILE (journeys)")
    try:
        callable_agent = load_agent(agent)
    except (ImportError, ValueError, OSError) as exc:
        fail(str(exc))
    out_file = out_file or Path("traces/journeys/journeys.jsonl" if journeys_file else "traces/cep/traces.jsonl")
    done = set()
    if out_file.exists():
        for number, line in enumerate(out_file.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if line.strip():
                try:
                    done.add(Trace.model_validate_json(line).metadata.get("scenario_id"))
                except ValueError:
                    err.print(Text("skipped", style="yellow"), f"{out_file}: line {number}: not a trace", highlight=False)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if journeys_file is not None:
        _record_journeys(callable_agent, journeys_file, out_file, done, model, api_base, limit, timeout_s, repeats, seed, response_model)
        return
    from chainjudge.cli.journeys import _llm
    from chainjudge.packs.cep.decisions import load_scenarios
    from chainjudge.packs.cep.recording import record as run_recording

    assert scenarios_file is not None
    try:
        scenarios = load_scenarios(scenarios_file)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    todo = [s for sid, s in scenarios.items() if sid not in done][: limit or None]
    out.print(f"{len(todo)} scenarios to record ({len(done)} already in {out_file})")
    with _llm(model, api_base, out_file.parent) as llm, out_file.open("a", encoding="utf-8") as handle:
        for n, trace in enumerate(run_recording(todo, callable_agent, llm, timeout_s=timeout_s), start=1):
            handle.write(trace.model_dump_json() + "\n")
            handle.flush()
            out.print(f"[{n}/{len(todo)}] {trace.id}: {trace.metadata.get('status')} ({len(trace.steps)} steps)")


def _record_journeys(agent, journeys_file: Path, out_file: Path, done: set, model: str, api_base: Optional[str],
                     limit: Optional[int], timeout_s: float, repeats: int, seed: int, response_model: Optional[Path]) -> None:
    from chainjudge.cli.journeys import _llm, load_response_model
    from chainjudge.packs.cep.journey import load_journeys
    from chainjudge.packs.cep.journey_recording import record_journeys, trace_id

    try:
        journeys = list(load_journeys(journeys_file).values())
    except (ValueError, OSError) as exc:
        fail(str(exc))
    responses = load_response_model(response_model)
    todo = [j for j in journeys if any(trace_id(j.id, r) not in done for r in range(repeats))][: limit or None]
    runs = sum(1 for j in todo for r in range(repeats) if trace_id(j.id, r) not in done)
    out.print(f"{runs} journey runs to record ({len(done)} traces already in {out_file}); customer: {responses.source}, seed {seed}")
    failed = simulator = 0
    with _llm(model, api_base, out_file.parent) as llm, out_file.open("a", encoding="utf-8") as handle:
        for n, trace in enumerate(record_journeys(todo, agent, llm, seed=seed, repeats=repeats, model=responses,
                                                  timeout_s=timeout_s, done=frozenset(done)), start=1):
            handle.write(trace.model_dump_json() + "\n")
            handle.flush()
            failed += trace.metadata.get("status") == "failed"
            simulator += trace.metadata.get("status") == "simulator_error"
            decisions = sum(1 for s in trace.steps if s.kind.value == "decision")
            out.print(f"[{n}/{runs}] {trace.id}: {trace.metadata.get('status')} ({decisions} decisions)"
                      + (f" {trace.metadata.get('error')}" if trace.metadata.get("error") else ""), highlight=False)
    if failed:
        err.print(Text(f"{failed} journeys stopped on an agent failure", style="yellow"), "(recorded with the error; check them with `journeys check`)")
    if simulator:
        err.print(Text(f"{simulator} journeys stopped on a simulator error", style="red"), "(the harness's fault, not the agent's; the journey and the error are in the trace)")
