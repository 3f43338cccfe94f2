"""Plan the work, skip what is stored, run the rest with bounded concurrency, store each result at once.

`plan` is pure: (traces, rubric, judge settings) -> work items, each carrying its cache keys.  `execute`
is the one async edge: a fixed pool of workers pulls items, asks the judge, and writes every judgment to
the store as soon as it arrives, so an interrupted run loses only the calls in flight.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chainjudge.injection import detect
from chainjudge.limiter import AdaptiveLimiter
from chainjudge.prompts import build_messages, cache_key, prompt_hash, truncate
from chainjudge.rubric import rubric_hash
from chainjudge.schema import Judgment, JudgeSettings, Rubric, Trace, WorkItem


class Judge(Protocol):
    @property
    def name(self) -> str: ...

    async def judge(self, item: WorkItem, limiter: AdaptiveLimiter | None = None) -> list[Judgment]: ...


class JudgmentSink(Protocol):
    def stored_items(self, run: str) -> dict[tuple[str, int, str], bool]: ...
    def find_scored(self, keys: Sequence[str]) -> dict[str, Judgment]: ...
    def add_judgments(self, judgments: Sequence[Judgment]) -> None: ...


def plan(
    traces: Iterable[Trace],
    rubric: Rubric,
    settings: JudgeSettings,
    run: str,
    limit: int | None = None,
) -> list[WorkItem]:
    """Every (step, applicable criteria) pair, as single-criterion or batched work items."""
    version = rubric_hash(rubric)
    items: list[WorkItem] = []
    for trace in traces:
        for step in trace.steps:
            applicable = tuple(c for c in rubric.criteria if step.kind in c.applies_to and not c.check)
            if not applicable:
                continue
            groups = [applicable] if settings.batch else [(c,) for c in applicable]
            flags = detect(truncate(step.render(), settings.max_step_chars))  # what the judge will see
            for criteria in groups:
                messages = build_messages(trace, step, criteria, settings)
                p_hash = prompt_hash(messages)
                items.append(
                    WorkItem(
                        flags=flags,
                        run=run,
                        trace_id=trace.id,
                        step=step,
                        criteria=criteria,
                        messages=messages,
                        prompt_hash=p_hash,
                        cache_keys={c.id: cache_key(settings, version, c.id, p_hash) for c in criteria},
                        rubric_id=rubric.id,
                        rubric_hash=version,
                    )
                )
                if limit is not None and len(items) >= limit:
                    return items
    return items


@dataclass
class Progress:
    """Counters the CLI shows while a run goes; passed to the `on_progress` callback after each call."""

    total: int = 0
    done: int = 0
    reused: int = 0
    skipped: int = 0
    calls: int = 0
    errors: int = 0
    cost_usd: float = 0.0
    error_kinds: Counter = field(default_factory=Counter)
    aborted: str | None = None
    rate_limited: int = 0  # 429 answers seen (each retried)
    timed_out: int = 0  # calls that timed out (each backed the concurrency off, then retried)
    lowest_concurrency: int | None = None  # how far the adaptive limiter backed off


def split_done(items: Sequence[WorkItem], stored: dict[tuple[str, int, str], bool], retry_errors: bool) -> list[WorkItem]:
    """Items with at least one criterion not yet stored for their (trace, step), or stored as an error
    when retrying errors.  Items are identified by where they are, never by their cache key alone:
    two traces with an identical step are two items."""
    todo = []
    for item in items:
        for criterion in item.cache_keys:
            done = stored.get((item.trace_id, item.step.index, criterion))
            if done is None or (retry_errors and not done):
                todo.append(item)
                break
    return todo


def _copy_for(item: WorkItem, judgment: Judgment) -> Judgment:
    """A judgment made for an identical prompt, copied onto this item (no call made)."""
    return judgment.model_copy(update={"run": item.run, "reused": True, "trace_id": item.trace_id,
                                       "step_index": item.step.index, "step_ref": item.step.ref})


def _group_identical(items: Sequence[WorkItem]) -> tuple[list[WorkItem], dict[int, list[WorkItem]]]:
    """One leader per set of identical cache keys (to call), and the items that copy its answer."""
    leaders: dict[tuple[str, ...], WorkItem] = {}
    followers: dict[int, list[WorkItem]] = {}
    for item in items:
        key = tuple(sorted(item.cache_keys.values()))
        leader = leaders.setdefault(key, item)
        if leader is not item:
            followers.setdefault(id(leader), []).append(item)
    return list(leaders.values()), followers


async def execute(
    items: Sequence[WorkItem],
    judge: Judge,
    sink: JudgmentSink,
    concurrency: int = 8,
    retry_errors: bool = True,
    on_progress: Callable[[Progress], None] | None = None,
    max_consecutive_connection_errors: int = 8,
) -> Progress:
    progress = Progress(total=len(items))
    run_names = {item.run for item in items}
    stored: dict[tuple[str, int, str], bool] = {}
    for name in run_names:
        stored.update(sink.stored_items(name))
    todo = split_done(items, stored, retry_errors)
    progress.skipped = len(items) - len(todo)
    progress.done = progress.skipped

    # work done before under another run name (same cache key) is copied, never asked again
    reusable = sink.find_scored([k for item in todo for k in item.cache_keys.values()])
    to_call: list[WorkItem] = []
    for item in todo:
        if all(k in reusable for k in item.cache_keys.values()):
            sink.add_judgments([_copy_for(item, reusable[k]) for k in item.cache_keys.values()])
            progress.reused += 1
            progress.done += 1
        else:
            to_call.append(item)
    to_call, copies = _group_identical(to_call)  # identical prompts in this run: asked once, copied
    if on_progress:
        on_progress(progress)

    queue: asyncio.Queue[WorkItem] = asyncio.Queue()
    for item in to_call:
        queue.put_nowait(item)
    consecutive_connection_errors = 0
    limiter = AdaptiveLimiter(concurrency)

    async def worker() -> None:
        nonlocal consecutive_connection_errors
        while progress.aborted is None:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            judgments = await judge.judge(item, limiter)
            progress.rate_limited = limiter.rate_limited
            progress.timed_out = limiter.timed_out
            progress.lowest_concurrency = limiter.lowest
            sink.add_judgments(judgments)
            for twin in copies.get(id(item), []):
                sink.add_judgments([_copy_for(twin, j) for j in judgments])
                progress.reused += 1
                progress.done += 1
            progress.calls += 1
            progress.done += 1
            failed = [j for j in judgments if j.error]
            progress.errors += len(failed)
            for j in failed:
                progress.error_kinds[j.error_kind or "error"] += 1
            progress.cost_usd += sum(j.usage.cost_usd for j in judgments)
            if failed and all(j.error_kind == "connection" for j in failed):
                consecutive_connection_errors += 1
                if consecutive_connection_errors >= max_consecutive_connection_errors and progress.aborted is None:
                    progress.aborted = (
                        f"judge unreachable: {consecutive_connection_errors} calls in a row failed to connect "
                        f"({failed[0].error}); the rest was not attempted"
                    )
            else:
                consecutive_connection_errors = 0
            if on_progress:
                on_progress(progress)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(to_call) or 1)))))
    return progress
