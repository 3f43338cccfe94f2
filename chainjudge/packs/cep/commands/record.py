"""`record`: an agent run over scenarios (one decision each) or journeys (step by step against a simulated
customer), written as native traces; resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from chainjudge.cli.support import err, fail, out
from chainjudge.core.schema import Trace
from chainjudge.packs.cep.commands.support import agent_llm, load_response_model


def record(
    agent: Annotated[
        str, typer.Option("--agent", help="module:callable honouring the agent contract (see chainjudge.packs.cep.recording).")
    ],
    scenarios_file: Annotated[
        Optional[Path], typer.Option("--scenarios", help="Scenarios (JSONL of {user, expected}): one decision each.")
    ] = None,
    journeys_file: Annotated[
        Optional[Path],
        typer.Option(
            "--journeys", help="Journeys (JSONL from `journeys generate`): the agent decides step by step against a simulated customer."
        ),
    ] = None,
    out_file: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            help="Native trace JSONL; appended to, what is already recorded is skipped. Default traces/cep/traces.jsonl, or "
            "traces/journeys/journeys.jsonl with --journeys.",
        ),
    ] = None,
    model: Annotated[
        str, typer.Option(help="'local' (the offline model), 'none' (an agent that calls no model) or any litellm model string.")
    ] = "local",
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --model.")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Record at most N scenarios (journeys).")] = None,
    timeout_s: Annotated[
        float, typer.Option(help="Per-scenario (per-decision, for journeys) time limit; past it the trace is marked failed.")
    ] = 600.0,
    repeats: Annotated[int, typer.Option(min=1, help="Journeys: runs of each journey (pass^k needs k or more).")] = 1,
    seed: Annotated[
        int, typer.Option(help="Journeys: the simulated customer's seed; the same seed and decisions replay the same journey.")
    ] = 0,
    response_model: Annotated[
        Optional[Path], typer.Option(help="Journeys: the customer's response model (YAML from `journeys fit-responses`).")
    ] = None,
) -> None:
    """Run an agent over scenarios (one decision each) or journeys (step by step against a simulated
    customer) and write native traces with its tool calls, reasoning and decisions, the model and the
    date in each. Resumable: re-running skips what is recorded."""
    from chainjudge.packs.cep.decisions import load_scenarios
    from chainjudge.packs.cep.recording import load_agent
    from chainjudge.packs.cep.recording import record as run_recording

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
    assert scenarios_file is not None
    try:
        scenarios = load_scenarios(scenarios_file)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    todo = [s for sid, s in scenarios.items() if sid not in done][: limit or None]
    out.print(f"{len(todo)} scenarios to record ({len(done)} already in {out_file})")
    with agent_llm(model, api_base, out_file.parent) as llm, out_file.open("a", encoding="utf-8") as handle:
        for n, trace in enumerate(run_recording(todo, callable_agent, llm, timeout_s=timeout_s), start=1):
            handle.write(trace.model_dump_json() + "\n")
            handle.flush()
            out.print(f"[{n}/{len(todo)}] {trace.id}: {trace.metadata.get('status')} ({len(trace.steps)} steps)")


def _record_journeys(
    agent,
    journeys_file: Path,
    out_file: Path,
    done: set,
    model: str,
    api_base: Optional[str],
    limit: Optional[int],
    timeout_s: float,
    repeats: int,
    seed: int,
    response_model: Optional[Path],
) -> None:
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
    with agent_llm(model, api_base, out_file.parent) as llm, out_file.open("a", encoding="utf-8") as handle:
        for n, trace in enumerate(
            record_journeys(todo, agent, llm, seed=seed, repeats=repeats, model=responses, timeout_s=timeout_s, done=frozenset(done)),
            start=1,
        ):
            handle.write(trace.model_dump_json() + "\n")
            handle.flush()
            failed += trace.metadata.get("status") == "failed"
            simulator += trace.metadata.get("status") == "simulator_error"
            decisions = sum(1 for s in trace.steps if s.kind.value == "decision")
            out.print(
                f"[{n}/{runs}] {trace.id}: {trace.metadata.get('status')} ({decisions} decisions)"
                + (f" {trace.metadata.get('error')}" if trace.metadata.get("error") else ""),
                highlight=False,
            )
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
