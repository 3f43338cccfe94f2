"""`attribute`: who made the decisive mistake in failed multi-agent traces, and when, against annotations."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import typer
from rich.table import Table

import chainjudge.cli.attribute_options as opt
from chainjudge.cli.support import DbOption, err, fail, open_store, out


def attribute(
    run: opt.RunOption = None,
    judge: opt.JudgeOption = None,
    api_base: opt.ApiBaseOption = None,
    strategy: opt.StrategyOption = None,
    ground_truth: opt.GroundTruthOption = False,
    traces: opt.TracesOption = None,
    criterion: opt.CriterionOption = "attribution",
    concurrency: opt.ConcurrencyOption = 4,
    out_file: opt.OutFileOption = None,
    db: DbOption = None,
) -> None:
    """Score failure attribution against the annotations in the store (labels import reads Who&When logs):
    agent-level and step-level accuracy (exact and within 1, 3, 5 steps) with 95% intervals over traces,
    beside the random baseline computed from the same traces. Strategies: --run (the first failing step of a
    judged run), --judge with --strategy all-at-once / step-by-step / binary-search; with neither, the
    baseline alone."""
    from chainjudge.core.judges.resolve import JudgeSetupError
    from chainjudge.workflows.attribution import STRATEGIES, evaluate

    chosen = strategy or ["all-at-once"]
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown:
        raise typer.BadParameter(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}", param_hint="--strategy")
    with open_store(db) as store:
        if traces:
            from chainjudge.cli.support import store_traces

            store_traces(store, traces)
        try:
            with _judge(judge, api_base) as (settings, model_judge):
                with _progress(model_judge, settings, store, criterion, len(chosen)) as tick:
                    report = evaluate(
                        store, criterion, run, model_judge, settings.model if settings else "", chosen, ground_truth, concurrency, tick
                    )
        except JudgeSetupError as exc:
            fail(str(exc))
    _print(report)
    if out_file is not None:
        _write(report, out_file)


def _judge(spec: str | None, api_base: str | None):
    if spec is None:
        return nullcontext((None, None))
    from chainjudge.core.judges.resolve import open_judge
    from chainjudge.core.offline import quiet_libraries

    quiet_libraries()
    return open_judge(spec, api_base=api_base, batch=False)


def _progress(model_judge, settings, store, criterion: str, strategies: int):
    """A progress display over traces x strategies while a judge is asked; nothing without one."""
    from contextlib import contextmanager

    @contextmanager
    def shown():
        if model_judge is None:
            yield lambda: None
            return
        from chainjudge.core.engine import Progress
        from chainjudge.core.progress import live_progress

        total = len({label.trace_id for label in store.labels(criterion=criterion)}) * strategies
        with live_progress(err, f"attributing with {settings.model}") as (on_start, on_progress):
            progress = Progress(total=total)
            on_start(total)

            def tick() -> None:
                progress.done += 1
                progress.calls += 1
                on_progress(progress)

            yield tick

    return shown()


def _print(report) -> None:
    base, (kept, checked) = report.baseline, report.agent_kept
    out.print(
        f"{len(report.truth)} annotated traces; the agent at the annotated step is the annotated agent in {kept} of {checked}",
        highlight=False,
    )
    out.print(
        f"random baseline: agent-level {base.agent_by_role:.2%} (1/#role strings) or {base.agent_by_agent:.2%} "
        f"(1/#agents); step-level {base.step:.2%} (1/#steps)",
        highlight=False,
    )
    table = Table("strategy", "agent-level [95%]", "step-level [95%]", "within 3 steps", "answered", "calls", "tokens per trace")
    table.add_row("random (from the logs)", f"{base.agent_by_role:.1%} / {base.agent_by_agent:.1%}", f"{base.step:.1%}", "-", "-", "0", "0")
    for name, result in report.runs.items():
        s = report.scores[name]
        tokens = (result.prompt_tokens + result.completion_tokens) / max(1, len(report.truth))
        table.add_row(
            name,
            _pct(s.agent_accuracy),
            _pct(s.step_accuracy),
            _pct(s.step_within[3]),
            f"{s.answered}/{s.traces}",
            str(result.calls),
            f"{tokens:.0f}",
        )
        for failure in result.failures[:3]:
            err.print(f"  no answer: {failure}", highlight=False, markup=False)
    out.print(table)


def _write(report, path: Path) -> None:
    from chainjudge.core.atomic import write_text_atomic

    strategies = {}
    for name, r in report.runs.items():
        s = report.scores[name]
        strategies[name] = {
            "agent_accuracy": s.agent_accuracy.model_dump(),
            "step_accuracy": s.step_accuracy.model_dump(),
            "within": {k: v.model_dump() for k, v in s.step_within.items()},
            "calls": r.calls,
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "predictions": {t: {"agent": p.agent, "step": p.step} for t, p in r.predictions.items()},
        }
    write_text_atomic(
        path, json.dumps({"baseline": report.baseline.__dict__, "traces": len(report.truth), "strategies": strategies}, indent=2) + "\n"
    )
    out.print(f"figures written to {path}", highlight=False)


def _pct(estimate) -> str:
    if estimate.value is None:
        return "-"
    return f"{estimate.value:.1%} [{estimate.low:.1%}, {estimate.high:.1%}] n={estimate.n}"
