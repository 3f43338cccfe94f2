"""The regression suite: each failure mode becomes minimal reproducing cases that CI re-judges.

A case is the trace prefix up to the failing step, the criterion, and the verdict that marked the
failure.  `chainjudge regress run` judges each case's step again through the engine (`case_under_test`:
in a newly recorded trace of the same id when one is given, else the recorded prefix), and `summarise`
reports every mode whose failure recurs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chainjudge.core.atomic import write_text_atomic
from chainjudge.core.engine import Judge, execute, plan
from chainjudge.core.rubric import rubric_hash
from chainjudge.core.schema import Criterion, Exemplar, JudgeSettings, RegressionCase, Rubric, Run, Trace, WorkItem
from chainjudge.core.store import Store


def make_case(mode_id: str, mode_name: str, exemplar: Exemplar, trace: Trace, criterion: Criterion, failed_label: str) -> RegressionCase:
    step = next((s for s in trace.steps if s.ref == exemplar.step_ref), None)
    if step is None:
        raise ValueError(f"step {exemplar.step_ref} is not in trace {trace.id}")
    prefix = trace.model_copy(update={"steps": trace.steps[: step.index + 1]})
    return RegressionCase(
        mode_id=mode_id,
        mode_name=mode_name,
        criterion=criterion,
        failed_label=failed_label,
        trace=prefix,
        step_ref=step.ref,
        source_run=exemplar.run,
    )


def write_case(case: RegressionCase, suite: Path) -> Path:
    folder = suite / case.mode_id
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{case.trace.id}-{case.step_ref}-{case.criterion.id}".replace("/", "_").replace(":", "_")
    path = folder / f"{name}.json"
    write_text_atomic(path, case.model_dump_json(indent=2))
    return path


def read_suite(suite: Path) -> list[RegressionCase]:
    return [RegressionCase.model_validate_json(p.read_text(encoding="utf-8")) for p in sorted(suite.rglob("*.json"))]


def case_under_test(case: RegressionCase, new_traces: dict[str, Trace]) -> Trace:
    """The newly recorded trace of the same id up to the same step, else the recorded prefix."""
    fresh = new_traces.get(case.trace.id)
    if fresh is None:
        return case.trace
    step = next((s for s in fresh.steps if s.ref == case.step_ref), None)
    if step is None:
        step = fresh.steps[min(len(case.trace.steps), len(fresh.steps)) - 1]
    return fresh.model_copy(update={"steps": fresh.steps[: step.index + 1]})


def summarise(results: Sequence[tuple[RegressionCase, bool | None]]) -> dict[str, list[str]]:
    """mode id -> the cases (trace:step) where the failure came back; None results (errors) count too."""
    recurring: dict[str, list[str]] = {}
    for case, passed in results:
        if passed is not True:
            recurring.setdefault(case.mode_id, []).append(
                f"{case.trace.id}:{case.step_ref}" + ("" if passed is False else " (judge error)")
            )
    return recurring


def plan_suite(
    cases: Sequence[RegressionCase], new_traces: dict[str, Trace], settings: JudgeSettings, run: str
) -> tuple[Rubric, list[Trace], list[tuple[RegressionCase, WorkItem | None]]]:
    """Pure: each case's trace under test (its own stable id, so two cases of one trace never collide) and
    the one work item that re-judges its last step on its criterion."""
    criteria = list({c.criterion.id: c.criterion for c in cases}.values())
    traces, planned = [], []
    for case in cases:
        trace = case_under_test(case, new_traces)
        trace = trace.model_copy(update={"id": f"{case.mode_id}/{trace.id}/{case.step_ref}/{case.criterion.id}"})
        traces.append(trace)
        items = plan([trace], Rubric(id="regress", criteria=[case.criterion]), settings, run)
        last = [i for i in items if i.step.index == len(trace.steps) - 1]
        planned.append((case, last[0] if last else None))
    return Rubric(id="regress", criteria=criteria), traces, planned


def run_suite(
    store: Store, cases: Sequence[RegressionCase], new_traces: dict[str, Trace], judge: Judge, settings: JudgeSettings, concurrency: int = 4
) -> list[tuple[RegressionCase, bool | None]]:
    """Re-judge every case through the engine and the store: a case whose prompt was judged before (same
    cache key, any run) is not asked again, and every verdict is kept under the run `regress-<suite hash>`."""
    import asyncio

    rubric, traces, planned = plan_suite(cases, new_traces, settings, "regress")
    run = f"regress-{rubric_hash(rubric)[:8]}-{settings.model.split('/')[-1]}"
    planned = [(case, item.model_copy(update={"run": run}) if item else None) for case, item in planned]
    with store.transaction():
        store.save_run(Run(name=run, rubric_id=rubric.id, rubric_hash=rubric_hash(rubric), rubric=rubric, judge=settings))
        store.save_traces(traces)
    asyncio.run(execute([i for _, i in planned if i is not None], judge, store, concurrency=concurrency))
    verdicts = {(j.trace_id, j.step_index, j.criterion_id): j.passed for j in store.judgments(run)}
    return [(case, verdicts.get((item.trace_id, item.step.index, case.criterion.id)) if item else None) for case, item in planned]
