"""Bias probes against the store: judge a run's probes (derived runs) and read back their flip rates.

The planning (which items, which change) is pure, in `probe.py`; this module is the edge that reads the
run, writes the derived runs through the engine and compares them with the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from chainjudge.analysis.probe import CHANGES, applicable, base_run_of, flip_rates, probe_items, probe_run_name, sample_items
from chainjudge.core.engine import Judge, Progress, execute, plan
from chainjudge.core.rubric import rubric_hash
from chainjudge.core.schema import ProbeResult, Run, Trace
from chainjudge.core.store import FIXED_SETTINGS, Store, UnknownRun


def _judged_items(store: Store, run: Run, settings) -> tuple[dict[str, Trace], list]:
    """The run's traces still stored, and its work items a model judged (the ones a probe can re-judge)."""
    judgments = list(store.judgments(run.name))
    traces = {i: store.get_trace(i, run=run.name) for i in sorted({j.trace_id for j in judgments})}
    present: dict[str, Trace] = {i: t for i, t in traces.items() if t is not None}
    judged = {(j.trace_id, j.step_index, j.criterion_id) for j in judgments if j.verdict and j.judge_kind == "model"}
    assert run.rubric is not None
    items = [
        i
        for i in plan(present.values(), run.rubric, settings, run.name)
        if any((i.trace_id, i.step.index, c.id) in judged for c in i.criteria)
    ]
    return present, items


def run_probes(
    store: Store,
    run_name: str,
    judge: Judge,
    settings,
    sample: int = 20,
    seed: int = 0,
    changes: Sequence[str] = CHANGES,
    concurrency: int = 4,
    on_change: Callable[[str, int], None] | None = None,
) -> dict[str, Progress | None]:
    """Judge the seeded sample of the run under each change (None: the change does not apply)."""
    run = store.get_run(run_name)
    if run is None or run.rubric is None:
        raise UnknownRun(run_name, store.location)
    run_settings = settings.model_copy(update={name: getattr(run.judge, name) for name in FIXED_SETTINGS})
    present, items = _judged_items(store, run, run_settings)
    chosen = sample_items(items, sample, seed)
    outcome: dict[str, Progress | None] = {}
    for change in changes:
        if not applicable(change, run.rubric, run_settings.batch):
            outcome[change] = None
            continue
        rubric, probed = probe_items(chosen, present, run.rubric, run_settings, run_name, change, seed)
        name = probe_run_name(run_name, change)
        store.save_run(
            Run(
                name=name,
                rubric_id=rubric.id,
                rubric_hash=rubric_hash(rubric),
                rubric=rubric,
                judge=run_settings,
                sources=[f"probe of {run_name}"],
            )
        )
        if on_change:
            on_change(change, len(probed))
        outcome[change] = asyncio.run(execute(probed, judge, store, concurrency=concurrency))
    return outcome


def probe_results(store: Store, run_name: str) -> list[ProbeResult]:
    """Flip rates of every probe stored for the run, per change and criterion."""
    original = {
        (j.trace_id, j.step_index, j.criterion_id): j.verdict.label for j in store.judgments(run_name) if j.verdict and j.error is None
    }
    results = []
    for summary in store.runs():
        parsed = base_run_of(summary.name)
        if parsed is None or parsed[0] != run_name:
            continue
        probed = {
            (j.trace_id, j.step_index, j.criterion_id): (j.verdict.label if j.verdict and j.error is None else None)
            for j in store.judgments(summary.name)
        }
        results += flip_rates(parsed[1], original, probed)
    return results
