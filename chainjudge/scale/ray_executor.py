"""Judging sharded over Ray: the planned work items split into shards, each shard a Ray task that builds
its own judge (one litellm client per worker), runs the same asyncio engine and writes every judgment to
the shared store as it arrives.

Why this is safe to retry: a shard re-run (Ray re-runs a task whose worker died) first reads what the
store already holds for the run and skips it, exactly as `chainjudge judge` resumes; identical prompts
are kept in one shard, so the cache key still means one call per item across workers.  Why one process
is not enough: a single Python process tops out near 130-160 judge calls per second on client CPU
(bench/judge_throughput.py); workers on several cores, or machines, add up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from chainjudge.core.engine import Progress, execute, not_yet_stored
from chainjudge.core.schema import WorkItem

JudgeFactory = Callable[[dict], Any]


def litellm_judge(recipe: dict):
    """The default worker judge: a LiteLLMJudge rebuilt from the driver's judge's recipe."""
    from chainjudge.core.judges.litellm_judge import LiteLLMJudge

    return LiteLLMJudge(**recipe)


def shards(items: Sequence[WorkItem], count: int) -> list[list[WorkItem]]:
    """`count` shards of about equal size, in plan order (one trace's steps stay together, so a local
    server's prompt cache keeps the trace prefix); items with identical cache keys share a shard."""
    groups: dict[tuple[str, ...], list[WorkItem]] = {}
    for item in items:
        groups.setdefault(tuple(sorted(item.cache_keys.values())), []).append(item)
    ordered = list(groups.values())
    count = max(1, min(count, len(ordered)))
    size = -(-sum(len(g) for g in ordered) // count)
    out: list[list[WorkItem]] = [[]]
    for group in ordered:
        if len(out[-1]) >= size:
            out.append([])
        out[-1].extend(group)
    return [shard for shard in out if shard]


def judge_shard(
    items: list[WorkItem], recipe: dict, store_location: str, concurrency: int, retry_errors: bool, factory: JudgeFactory = litellm_judge
) -> Progress:
    """One Ray task: open the shared store, build a judge, judge what the store does not hold yet."""
    from chainjudge.core import offline
    from chainjudge.core.store import Store

    offline.apply()
    offline.quiet_libraries()
    with Store(store_location) as store:
        judge = factory(recipe)
        return asyncio.run(execute(items, judge, store, concurrency=concurrency, retry_errors=retry_errors))


def merge(total: Progress, part: Progress) -> None:
    """Add a finished shard's counters to the run's."""
    for f in fields(Progress):
        if f.name in ("total", "aborted", "lowest_concurrency"):
            continue
        setattr(total, f.name, getattr(total, f.name) + getattr(part, f.name))
    total.aborted = total.aborted or part.aborted
    if part.lowest_concurrency is not None:
        total.lowest_concurrency = min(part.lowest_concurrency, total.lowest_concurrency or part.lowest_concurrency)


class RayExecutor:
    """An executor for `pipeline.judge_traces`: `executor=RayExecutor(store.connect_to, workers=2)`.

    With no address, a local Ray runtime with `workers` CPUs is started for the run and stopped after it;
    with one, the work goes to that cluster (whose workers must reach the store: a PostgreSQL URL)."""

    def __init__(
        self,
        store_location: str,
        address: str | None = None,
        workers: int = 2,
        shards_per_worker: int = 4,
        factory: JudgeFactory = litellm_judge,
        max_retries: int = 3,
    ) -> None:
        self.store_location = store_location
        self.address = address
        self.workers = workers
        self.shards_per_worker = shards_per_worker
        self.factory = factory
        self.max_retries = max_retries

    def __call__(
        self,
        items: Sequence[WorkItem],
        judge,
        store,
        concurrency: int = 8,
        retry_errors: bool = True,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Progress:
        import ray

        progress = Progress(total=len(items))
        todo = not_yet_stored(items, store, retry_errors)
        progress.skipped = progress.done = len(items) - len(todo)
        if on_progress:
            on_progress(progress)
        if not todo:
            return progress
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(
                address=self.address,
                num_cpus=None if self.address else self.workers,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        try:
            self._run_shards(ray, todo, judge, concurrency, retry_errors, progress, on_progress)
        finally:
            if started_here:
                ray.shutdown()
        return progress

    def _run_shards(
        self,
        ray: Any,
        todo: list[WorkItem],
        judge: Any,
        concurrency: int,
        retry_errors: bool,
        progress: Progress,
        on_progress: Callable[[Progress], None] | None,
    ) -> None:
        """The shards as Ray tasks, merged as they finish; the first that fails cancels the rest and stops the run."""
        task = ray.remote(num_cpus=1, max_retries=self.max_retries)(judge_shard)
        recipe = judge.recipe()
        pending = [
            task.remote(shard, recipe, self.store_location, concurrency, retry_errors, self.factory)
            for shard in shards(todo, self.workers * self.shards_per_worker)
        ]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            try:
                merge(progress, ray.get(finished[0]))  # a re-run shard counts its dead attempt's work as skipped
            except Exception as exc:  # noqa: BLE001 - a shard that failed (an error, or its worker died past the retries) stops the run
                for ref in pending:
                    ray.cancel(ref)
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                progress.aborted = (
                    f"a Ray shard failed ({reason}); what the other shards stored is kept: run the same command again to resume"
                )
                pending = []
            if on_progress:
                on_progress(progress)
