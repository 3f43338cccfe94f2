"""`attribute`: who made the decisive mistake in failed multi-agent traces, and when, against annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from chainjudge.cli.support import DbOption, err, fail, open_store, out


def attribute(
    run: Annotated[Optional[str], typer.Option("--run", help="first-failing strategy: the earliest step this run's judges failed, and its agent.")] = None,
    judge: Annotated[Optional[str], typer.Option("--judge", help="all-at-once strategy: this judge reads each whole log and names the agent and step (litellm model string, or local).")] = None,
    api_base: Annotated[Optional[str], typer.Option("--api-base", help="OpenAI-compatible server for --judge.")] = None,
    strategy: Annotated[Optional[list[str]], typer.Option("--strategy", help="With --judge: all-at-once (default), step-by-step, binary-search; repeatable.")] = None,
    ground_truth: Annotated[bool, typer.Option("--ground-truth/--no-ground-truth", help="Show the judge the task's right answer (the benchmark measures both).")] = False,
    traces: Annotated[Optional[list[Path]], typer.Option("--traces", help="Trace files or folders to store first (the annotated logs).")] = None,
    criterion: Annotated[str, typer.Option(help="The criterion of the attribution labels (labels import writes 'attribution').")] = "attribution",
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Judge calls in flight.")] = 4,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Also write the figures and every prediction as JSON here.")] = None,
    db: DbOption = None,
) -> None:
    """Score failure attribution against the annotations in the store (labels import reads Who&When logs):
    agent-level and step-level accuracy (exact and within 1, 3, 5 steps) with 95% intervals over traces,
    beside the random baseline computed from the same traces. Strategies: --run (the first failing step of a
    judged run), --judge (all at once: one call per trace); with neither, the baseline alone."""
    from chainjudge.analysis.attribution import agent_at_annotated_step, random_baseline, score
    from chainjudge.core.atomic import write_text_atomic
    from chainjudge.workflows.attribution import STRATEGIES, all_at_once, from_run, gather

    chosen = strategy or ["all-at-once"]
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown:
        raise typer.BadParameter(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}", param_hint="--strategy")

    with open_store(db) as store:
        if traces:
            from chainjudge.cli.verifying import _store_traces

            _store_traces(store, traces)
        stored, truth = gather(store, criterion)
        baseline = random_baseline(stored.values())
        kept, checked = agent_at_annotated_step(stored, truth)
        out.print(f"{len(truth)} annotated traces; the agent at the annotated step is the annotated agent in {kept} of {checked}",
                  highlight=False)
        out.print(f"random baseline: agent-level {baseline.agent_by_role:.2%} (1/#role strings) or {baseline.agent_by_agent:.2%} "
                  f"(1/#agents); step-level {baseline.step:.2%} (1/#steps)", highlight=False)
        runs = {}
        if run:
            runs[f"first failing step of run {run}"] = from_run(store, run, stored)
    if judge:
        from chainjudge.core.engine import Progress as RunProgress
        from chainjudge.core.judges.resolve import JudgeSetupError, open_judge
        from chainjudge.core.offline import quiet_libraries
        from chainjudge.core.progress import live_progress

        quiet_libraries()
        try:
            with open_judge(judge, api_base=api_base, batch=False) as (settings, model_judge):
                with live_progress(err, f"attributing {len(stored)} traces with {settings.model}") as (on_start, on_progress):
                    progress = RunProgress(total=len(stored) * len(chosen))
                    on_start(len(stored) * len(chosen))

                    def tick() -> None:
                        progress.done += 1
                        progress.calls += 1
                        on_progress(progress)

                    for name in chosen:
                        run_strategy = all_at_once if name == "all-at-once" else STRATEGIES[name]
                        runs[f"{name} ({settings.model}{', with ground truth' if ground_truth else ''})"] = run_strategy(
                            model_judge, list(stored.values()), ground_truth, concurrency, tick)
        except JudgeSetupError as exc:
            fail(str(exc))
    table = Table("strategy", "agent-level [95%]", "step-level [95%]", "within 3 steps", "answered", "calls", "tokens per trace")
    table.add_row("random (from the logs)", f"{baseline.agent_by_role:.1%} / {baseline.agent_by_agent:.1%}", f"{baseline.step:.1%}", "-", "-", "0", "0")
    scores = {}
    for name, result in runs.items():
        s = score(name, result.predictions, truth)
        scores[name] = (s, result)
        tokens = (result.prompt_tokens + result.completion_tokens) / max(1, len(truth))
        table.add_row(name, _pct(s.agent_accuracy), _pct(s.step_accuracy), _pct(s.step_within[3]), f"{s.answered}/{s.traces}",
                      str(result.calls), f"{tokens:.0f}")
        for failure in result.failures[:3]:
            err.print(f"  no answer: {failure}", highlight=False, markup=False)
    out.print(table)
    if out_file is not None:
        write_text_atomic(out_file, json.dumps({
            "baseline": baseline.__dict__, "traces": len(truth),
            "strategies": {name: {"agent_accuracy": s.agent_accuracy.model_dump(), "step_accuracy": s.step_accuracy.model_dump(),
                                  "within": {k: v.model_dump() for k, v in s.step_within.items()}, "calls": r.calls,
                                  "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                                  "predictions": {t: {"agent": p.agent, "step": p.step} for t, p in r.predictions.items()}}
                           for name, (s, r) in scores.items()}}, indent=2) + "\n")
        out.print(f"figures written to {out_file}", highlight=False)


def _pct(estimate) -> str:
    if estimate.value is None:
        return "-"
    return f"{estimate.value:.1%} [{estimate.low:.1%}, {estimate.high:.1%}] n={estimate.n}"
