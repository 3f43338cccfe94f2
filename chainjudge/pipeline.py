"""One judging run from files to stored judgments, shared by the CLI, the demo and the benches.

read (bad records collected, never a stop) -> plan (pure: checks, redaction, prompts, work items) ->
write the plan (one transaction) -> execute (each judgment written as it arrives; what the store already
holds is skipped, so a run resumes).  The store is touched only at those two ends.  `asyncio.run`
lives here, the one sync edge over the async engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainjudge.core.checks import run_checks
from chainjudge.core.engine import Executor, Judge, Progress, execute, plan
from chainjudge.core.redact import Redactor
from chainjudge.core.rubric import rubric_hash
from chainjudge.core.schema import JudgeSettings, Judgment, RecordError, Rubric, Run, Trace, WorkItem
from chainjudge.core.segment import SplitMode
from chainjudge.core.store import Store
from chainjudge.reading import read_traces


@dataclass
class LoadedTraces:
    traces: list[Trace] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    repairs: list[RecordError] = field(default_factory=list)  # anomalies repaired with nothing lost


def load_traces(paths: Sequence[str | Path], fmt: str = "auto", split: SplitMode = "none") -> LoadedTraces:
    loaded = LoadedTraces()
    seen: set[str] = set()
    for item in read_traces(paths, fmt, split):
        if isinstance(item, RecordError):
            (loaded.repairs if item.repaired else loaded.errors).append(item)
        elif item.id in seen:
            loaded.errors.append(
                RecordError(source=item.source or "?", record=item.id, reason=f"duplicate trace id {item.id!r}; kept the first")
            )
        else:
            seen.add(item.id)
            loaded.traces.append(item)
    return loaded


def redact_all(traces: Sequence[Trace], redactor: Redactor, max_chars: int | None = None) -> tuple[list[Trace], dict[str, dict[str, str]]]:
    """What the judge will see: PII replaced by placeholders; and per trace the placeholder -> original
    map, for the caller to keep in the local store (pure: nothing is written here)."""
    redacted, mappings = [], {}
    for trace in traces:
        clean, redaction = redactor.redact_trace(trace, max_chars)
        if redaction.mapping:
            mappings[trace.id] = redaction.mapping
        redacted.append(clean)
    return redacted, mappings


@dataclass(frozen=True)
class JudgePlan:
    """Everything a judging run will write before its first model call, computed without touching the
    store: the run, the traces as read (the store keeps these), the deterministic checks' judgments, the
    redaction maps, and the model work items (built from the redacted traces)."""

    run: Run
    traces: list[Trace]
    checked: list[Judgment]
    redactions: dict[str, dict[str, str]]
    items: list[WorkItem]


def plan_run(
    traces: Sequence[Trace],
    rubric: Rubric,
    settings: JudgeSettings,
    run_name: str,
    sources: Sequence[str] = (),
    limit: int | None = None,
    select: Callable[[list[WorkItem]], list[WorkItem]] | None = None,
    redactor: Redactor | None = None,
    examples: Callable | None = None,
) -> JudgePlan:
    """Read -> plan, pure: checks on everything (no model, no cost), redaction, prompts and work items."""
    run = Run(name=run_name, rubric_id=rubric.id, rubric_hash=rubric_hash(rubric), rubric=rubric, judge=settings, sources=list(sources))
    checked = run_checks(traces, rubric, run_name)
    judged, redactions = redact_all(traces, redactor or Redactor(), settings.max_step_chars) if settings.redact_pii else (list(traces), {})
    items = plan(judged, rubric, settings, run_name, limit=limit, examples=examples)
    if select is not None:
        items = select(items)
    return JudgePlan(run=run, traces=list(traces), checked=checked, redactions=redactions, items=items)


def record_plan(store: Store, job: JudgePlan) -> Run:
    """The plan's writes, in one transaction: the run (refused if the name is bound to other settings),
    the trace versions it judges, the redaction maps and the checks' judgments."""
    with store.transaction():
        run = store.save_run(job.run)
        store.pin_traces(job.run.name, store.save_traces(job.traces))  # a run keeps the versions it judged
        for trace_id, mapping in job.redactions.items():
            store.save_redactions(trace_id, mapping)
        if job.checked:
            store.add_judgments(job.checked)
    return run


@dataclass
class RunOutcome:
    run: Run
    progress: Progress
    planned: int
    checked: int = 0  # judgments made by deterministic checks
    concurrency: int = 0  # calls in flight actually allowed (capped to the judge server's slots)
    asked_concurrency: int = 0

    @property
    def capped(self) -> bool:
        return self.concurrency < self.asked_concurrency


def judge_traces(
    traces: Sequence[Trace],
    rubric: Rubric,
    settings: JudgeSettings,
    judge: Judge,
    store: Store,
    run_name: str,
    sources: Sequence[str] = (),
    concurrency: int = 8,
    limit: int | None = None,
    retry_errors: bool = True,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    select: Callable[[list[WorkItem]], list[WorkItem]] | None = None,
    redactor: Redactor | None = None,
    examples: Callable | None = None,
    executor: Executor | None = None,
) -> RunOutcome:
    """Plan (pure), write the plan, execute the model work items; each judgment is stored as it arrives,
    so an interrupted run resumes where it stopped.  `executor` runs the work items (default: this
    process's asyncio engine; `chainjudge.scale.RayExecutor` shards them over Ray workers); planning and
    the deterministic checks always stay here."""
    with store.run_lock(run_name):  # a second `judge --run NAME` at once would make every call again
        job = plan_run(traces, rubric, settings, run_name, sources, limit, select, redactor, examples)
        run = record_plan(store, job)
        if on_start:
            on_start(len(job.items))
        slots = getattr(judge, "max_in_flight", None)  # part of the Judge protocol; a bare third-party judge may lack it
        effective = min(concurrency, slots) if slots else concurrency
        run_items = executor or _in_this_process
        progress = run_items(job.items, judge, store, concurrency=effective, retry_errors=retry_errors, on_progress=on_progress)
    return RunOutcome(
        run=run, progress=progress, planned=len(job.items), checked=len(job.checked), concurrency=effective, asked_concurrency=concurrency
    )


def _in_this_process(items: list[WorkItem], judge: Judge, store: Store, **options: Any) -> Progress:
    """The default executor: this process's asyncio engine."""
    return asyncio.run(execute(items, judge, store, **options))
