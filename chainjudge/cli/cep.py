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
    scenarios_file: Annotated[Path, typer.Option("--scenarios", help="Scenarios (JSONL of {user, expected}).")],
    out_file: Annotated[Path, typer.Option("--out", help="Native trace JSONL; appended to, scenarios already recorded are skipped.")] = Path("traces/cep/traces.jsonl"),
    model: Annotated[str, typer.Option(help="'local' (the offline model) or any litellm model string.")] = "local",
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --model.")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Record at most N scenarios.")] = None,
    timeout_s: Annotated[float, typer.Option(help="Per-scenario time limit; past it the trace is marked failed.")] = 600.0,
) -> None:
    """Run an agent over scenarios and write native traces with its tool calls, reasoning and final
    decision, the model and the date in each. Resumable: re-running skips recorded scenarios."""
    import os
    from contextlib import nullcontext

    from chainjudge.core.schema import Trace
    from chainjudge.packs.cep.decisions import load_scenarios
    from chainjudge.packs.cep.recording import LLMConfig, load_agent
    from chainjudge.packs.cep.recording import record as run_recording

    try:
        callable_agent = load_agent(agent)
        scenarios = load_scenarios(scenarios_file)
    except (ImportError, ValueError, OSError) as exc:
        fail(str(exc))
    done = set()
    if out_file.exists():
        done = {Trace.model_validate_json(line).metadata.get("scenario_id") for line in out_file.read_text().splitlines() if line.strip()}
    todo = [s for sid, s in scenarios.items() if sid not in done][: limit or None]
    out.print(f"{len(todo)} scenarios to record ({len(done)} already in {out_file})")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if model == "local":
        from chainjudge.core.judges.local import MODEL_ALIAS, LocalServer, ensure_model

        server_context = LocalServer(ensure_model(), log_path=out_file.parent / "agent-server.log")
    else:
        server_context = nullcontext()
    with server_context as server:
        llm = LLMConfig(model=f"openai/{MODEL_ALIAS}" if model == "local" else model,
                        api_base=server.api_base if model == "local" else api_base,
                        api_key=os.environ.get("CHAINJUDGE_API_KEY"))
        with out_file.open("a", encoding="utf-8") as handle:
            for n, trace in enumerate(run_recording(todo, callable_agent, llm, timeout_s=timeout_s), start=1):
                handle.write(trace.model_dump_json() + "\n")
                handle.flush()
                out.print(f"[{n}/{len(todo)}] {trace.id}: {trace.metadata.get('status')} ({len(trace.steps)} steps)")

