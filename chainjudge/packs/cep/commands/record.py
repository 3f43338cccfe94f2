"""`record`: an agent run over scenarios (one decision each) or journeys (step by step against a simulated
customer), written as native traces; resumable."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import err, fail, out
from chainjudge.core.schema import Trace
from chainjudge.packs.cep.commands.record_options import RecordOptions
from chainjudge.packs.cep.commands.support import agent_llm, load_response_model


@from_options(RecordOptions)
def record(args: RecordOptions) -> None:
    """Run an agent over scenarios (one decision each) or journeys (step by step against a simulated
    customer) and write native traces with its tool calls, reasoning and decisions, the model and the
    date in each. Resumable: re-running skips what is recorded."""
    from chainjudge.packs.cep.recording import load_agent

    if (args.scenarios_file is None) == (args.journeys_file is None):
        fail("give one of --scenarios FILE (single decisions) or --journeys FILE (journeys)")
    try:
        callable_agent = load_agent(args.agent)
    except (ImportError, ValueError, OSError) as exc:
        fail(str(exc))
    out_file = args.out_file or Path("traces/journeys/journeys.jsonl" if args.journeys_file else "traces/cep/traces.jsonl")
    done = _already_recorded(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if args.journeys_file is not None:
        _record_journeys(callable_agent, args, args.journeys_file, out_file, done)
    else:
        assert args.scenarios_file is not None
        _record_scenarios(callable_agent, args, args.scenarios_file, out_file, done)


def _already_recorded(out_file: Path) -> set:
    """The scenario (journey run) ids OUT_FILE already holds; a line that is not a trace is reported and skipped."""
    done = set()
    if out_file.exists():
        for number, line in enumerate(out_file.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if line.strip():
                try:
                    done.add(Trace.model_validate_json(line).metadata.get("scenario_id"))
                except ValueError:
                    err.print(Text("skipped", style="yellow"), f"{out_file}: line {number}: not a trace", highlight=False)
    return done


def _record_scenarios(agent, args: RecordOptions, scenarios_file: Path, out_file: Path, done: set) -> None:
    from chainjudge.packs.cep.decisions import load_scenarios
    from chainjudge.packs.cep.recording import record as run_recording

    try:
        scenarios = load_scenarios(scenarios_file)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    todo = [s for sid, s in scenarios.items() if sid not in done][: args.limit or None]
    out.print(f"{len(todo)} scenarios to record ({len(done)} already in {out_file})")
    with agent_llm(args.model, args.api_base, out_file.parent) as llm, out_file.open("a", encoding="utf-8") as handle:
        for n, trace in enumerate(run_recording(todo, agent, llm, timeout_s=args.timeout_s), start=1):
            handle.write(trace.model_dump_json() + "\n")
            handle.flush()
            out.print(f"[{n}/{len(todo)}] {trace.id}: {trace.metadata.get('status')} ({len(trace.steps)} steps)")


def _record_journeys(agent, args: RecordOptions, journeys_file: Path, out_file: Path, done: set) -> None:
    from chainjudge.packs.cep.journey import load_journeys
    from chainjudge.packs.cep.journey_recording import record_journeys, trace_id

    try:
        journeys = list(load_journeys(journeys_file).values())
    except (ValueError, OSError) as exc:
        fail(str(exc))
    responses = load_response_model(args.response_model)
    repeats = args.repeats
    todo = [j for j in journeys if any(trace_id(j.id, r) not in done for r in range(repeats))][: args.limit or None]
    runs = sum(1 for j in todo for r in range(repeats) if trace_id(j.id, r) not in done)
    out.print(f"{runs} journey runs to record ({len(done)} traces already in {out_file}); customer: {responses.source}, seed {args.seed}")
    statuses = []
    with agent_llm(args.model, args.api_base, out_file.parent) as llm, out_file.open("a", encoding="utf-8") as handle:
        recorded = record_journeys(
            todo, agent, llm, seed=args.seed, repeats=repeats, model=responses, timeout_s=args.timeout_s, done=frozenset(done)
        )
        for n, trace in enumerate(recorded, start=1):
            handle.write(trace.model_dump_json() + "\n")
            handle.flush()
            statuses.append(trace.metadata.get("status"))
            decisions = sum(1 for s in trace.steps if s.kind.value == "decision")
            error = f" {trace.metadata.get('error')}" if trace.metadata.get("error") else ""
            out.print(f"[{n}/{runs}] {trace.id}: {statuses[-1]} ({decisions} decisions){error}", highlight=False)
    _report_stops(statuses.count("failed"), statuses.count("simulator_error"))


def _report_stops(failed: int, simulator: int) -> None:
    if failed:
        err.print(
            Text(f"{failed} journeys stopped on an agent failure", style="yellow"),
            "(recorded with the error; check them with `journeys check`)",
        )
    if simulator:
        err.print(
            Text(f"{simulator} journeys stopped on a simulator error", style="red"),
            "(the harness's fault, not the agent's; the journey and the error are in the trace)",
        )
