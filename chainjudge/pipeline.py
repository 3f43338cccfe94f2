"""One judging run from files to stored judgments: the sync edge shared by the CLI and the demo.

Reads traces (collecting bad records instead of stopping), stores them, plans the work against what the
store already holds, and executes it with the given judge.  `asyncio.run` lives here, at the edge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chainjudge.reading import read_traces
from chainjudge.core.checks import run_checks
from chainjudge.core.engine import Judge, Progress, execute, plan
from chainjudge.core.rubric import rubric_hash
from chainjudge.core.schema import JudgeSettings, RecordError, Rubric, Run, Trace, WorkItem
from chainjudge.core.redact import Redactor
from chainjudge.core.segment import SplitMode
from chainjudge.core.store import Store


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


def redact_all(traces: Sequence[Trace], redactor: Redactor, store: Store, max_chars: int | None = None) -> list[Trace]:
    """What the judge will see: PII replaced by placeholders; the mapping kept in the local store."""
    redacted = []
    for trace in traces:
        clean, redaction = redactor.redact_trace(trace, max_chars)
        if redaction.mapping:
            store.save_redactions(trace.id, redaction.mapping)
        redacted.append(clean)
    return redacted


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
) -> RunOutcome:
    run = store.save_run(
        Run(name=run_name, rubric_id=rubric.id, rubric_hash=rubric_hash(rubric), rubric=rubric, judge=settings, sources=list(sources))
    )
    store.pin_traces(run_name, store.save_traces(traces))  # a run keeps the versions it judged
    checked = run_checks(traces, rubric, run_name)  # deterministic checks: on everything, no model, no cost
    if checked:
        store.add_judgments(checked)
    if settings.redact_pii:
        traces = redact_all(traces, redactor or Redactor(), store, settings.max_step_chars)
    items = plan(traces, rubric, settings, run_name, limit=limit)
    if select is not None:
        items = select(items)
    if on_start:
        on_start(len(items))
    slots = getattr(judge, "max_in_flight", None)
    effective = min(concurrency, slots) if slots else concurrency
    progress = asyncio.run(
        execute(items, judge, store, concurrency=effective, retry_errors=retry_errors, on_progress=on_progress)
    )
    return RunOutcome(run=run, progress=progress, planned=len(items), checked=len(checked), concurrency=effective,
                      asked_concurrency=concurrency)
