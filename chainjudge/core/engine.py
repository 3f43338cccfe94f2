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
from typing import Any, Protocol

from chainjudge.core.fencing import truncate
from chainjudge.core.injection import detect
from chainjudge.core.limiter import AdaptiveLimiter
from chainjudge.core.prompts import build_messages, cache_key, prompt_hash
from chainjudge.core.rubric import rubric_hash
from chainjudge.core.schema import AlignedExample, Criterion, JudgeSettings, Judgment, Rubric, Step, Trace, WorkItem


class Judge(Protocol):
    """What the pipeline asks of a judge: a name for its runs, how many calls its server takes at once (None:
    no limit of its own; the run's concurrency is capped to it), and the judgments of one work item.  A judge
    holds settings and a client, never results, so one instance is safe under concurrency."""

    max_in_flight: int | None

    @property
    def name(self) -> str: ...

    async def judge(self, item: WorkItem, limiter: AdaptiveLimiter | None = None) -> list[Judgment]: ...


class ShippableJudge(Judge, Protocol):
    """A judge another process can rebuild (a Ray worker): `recipe()` gives the arguments that made it,
    since its client cannot be pickled."""

    def recipe(self) -> dict[str, object]: ...


class Executor(Protocol):
    """Runs a plan's work items and returns the run's progress; the default runs them in this process
    (`execute`), `chainjudge.scale.RayExecutor` shards them over Ray workers, each writing to the store."""

    def __call__(
        self,
        items: Sequence[WorkItem],
        judge: Judge,
        store: JudgmentSink,
        concurrency: int = 8,
        retry_errors: bool = True,
        on_progress: Callable[..., Any] | None = None,
    ) -> "Progress": ...


class NoCallJudge:
    """Stands in where no model call may happen (a checks-only rubric, a re-run whose work is all stored):
    planning gave it nothing to judge, so being called is a bug, said loudly."""

    max_in_flight = None

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        self._why = why

    async def judge(self, item: WorkItem, limiter: AdaptiveLimiter | None = None) -> list[Judgment]:
        raise AssertionError(f"{self.name} was asked to judge although {self._why}")


def checks_only_judge() -> tuple[JudgeSettings, NoCallJudge]:
    """Settings and judge for a rubric of deterministic checks only: no model is started or reached."""
    return JudgeSettings(model="checks-only"), NoCallJudge("checks-only", "a checks-only rubric plans no model work")


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
    examples: Callable[[Trace, Step, tuple[Criterion, ...]], Sequence[AlignedExample]] | None = None,
) -> list[WorkItem]:
    """Every (step, applicable criteria) pair, as single-criterion or batched work items.  `examples`, for
    an aligned judge, gives the worked examples a step's prompt carries."""
    version = rubric_hash(rubric)
    items: list[WorkItem] = []
    for trace in traces:
        for step in trace.steps:
            applicable = tuple(c for c in rubric.criteria if step.kind in c.applies_to and not c.deterministic)
            if not applicable:
                continue
            groups = [applicable] if settings.batch else [(c,) for c in applicable]
            flags = detect(truncate(step.render(), settings.max_step_chars))  # what the judge will see
            for criteria in groups:
                shown = examples(trace, step, criteria) if examples is not None else ()
                messages = build_messages(trace, step, criteria, settings, rubric.context, shown)
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
    error_kinds: Counter[str] = field(default_factory=Counter)
    aborted: str | None = None
    rate_limited: int = 0  # 429 answers seen (each retried)
    timed_out: int = 0  # calls that timed out (each backed the concurrency off, then retried)
    lowest_concurrency: int | None = None  # how far the adaptive limiter backed off


def not_yet_stored(items: Sequence[WorkItem], sink: JudgmentSink, retry_errors: bool) -> list[WorkItem]:
    """The items whose runs do not hold every judgment yet (or hold an error, when retrying errors)."""
    stored: dict[tuple[str, int, str], bool] = {}
    for name in {item.run for item in items}:
        stored.update(sink.stored_items(name))
    return split_done(items, stored, retry_errors)


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
    return judgment.model_copy(
        update={"run": item.run, "reused": True, "trace_id": item.trace_id, "step_index": item.step.index, "step_ref": item.step.ref}
    )


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


def _take_stored_and_reusable(
    items: Sequence[WorkItem], sink: JudgmentSink, retry_errors: bool, progress: Progress
) -> tuple[list[WorkItem], dict[int, list[WorkItem]]]:
    """Skip what the run already holds, copy what another run already judged under the same cache key,
    and group identical prompts of this run: (leaders to call, their twins by leader)."""
    todo = not_yet_stored(items, sink, retry_errors)
    progress.skipped = len(items) - len(todo)
    progress.done = progress.skipped
    reusable = sink.find_scored([k for item in todo for k in item.cache_keys.values()])
    to_call: list[WorkItem] = []
    for item in todo:
        if all(k in reusable for k in item.cache_keys.values()):
            sink.add_judgments([_copy_for(item, reusable[k]) for k in item.cache_keys.values()])
            progress.reused += 1
            progress.done += 1
        else:
            to_call.append(item)
    return _group_identical(to_call)  # identical prompts in this run: asked once, copied


@dataclass
class _Outcomes:
    """Counts the answers of a run as they arrive; stops the run after too many connection failures."""

    progress: Progress
    limiter: AdaptiveLimiter
    max_connection_errors: int
    connection_errors: int = 0

    def record(self, judgments: list[Judgment], twins: int) -> None:
        p = self.progress
        p.rate_limited, p.timed_out, p.lowest_concurrency = self.limiter.rate_limited, self.limiter.timed_out, self.limiter.lowest
        p.reused += twins
        p.calls += 1
        p.done += 1 + twins
        failed = [j for j in judgments if j.error]
        p.errors += len(failed)
        for j in failed:
            p.error_kinds[j.error_kind or "error"] += 1
        p.cost_usd += sum(j.usage.cost_usd for j in judgments)
        if not failed or not all(j.error_kind == "connection" for j in failed):
            self.connection_errors = 0
            return
        self.connection_errors += 1
        if self.connection_errors >= self.max_connection_errors and p.aborted is None:
            p.aborted = (
                f"judge unreachable: {self.connection_errors} calls in a row failed to connect "
                f"({failed[0].error}); the rest was not attempted"
            )


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
    to_call, copies = _take_stored_and_reusable(items, sink, retry_errors, progress)
    if on_progress:
        on_progress(progress)
    queue: asyncio.Queue[WorkItem] = asyncio.Queue()
    for item in to_call:
        queue.put_nowait(item)
    limiter = AdaptiveLimiter(concurrency)
    outcomes = _Outcomes(progress, limiter, max_consecutive_connection_errors)

    async def worker() -> None:
        while progress.aborted is None:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            judgments = await judge.judge(item, limiter)
            sink.add_judgments(judgments)
            twins = copies.get(id(item), [])
            for twin in twins:
                sink.add_judgments([_copy_for(twin, j) for j in judgments])
            outcomes.record(judgments, len(twins))
            if on_progress:
                on_progress(progress)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(to_call) or 1)))))
    return progress
