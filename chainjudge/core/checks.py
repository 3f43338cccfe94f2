"""Deterministic checks: named, tested functions that judge a criterion without a model.

A rubric criterion with `check: NAME` is judged by the function registered under NAME, one with
`assert: {kind: ...}` by a trajectory assertion (`trajectory.py`); both produce the
same Judgment records as the model judge (judge = "check:NAME" or "assert:KIND", judge_kind = check), so pass rates, calibration, the review
queue and failure modes treat both alike.  The CEP checks read the user state the trace carries in its
metadata (`user_state`) and the agent's decision (the JSON in its decision step).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chainjudge.core.rubric import rubric_hash
from chainjudge.core.schema import Criterion, Judgment, Rubric, Step, Trace, Verdict
from chainjudge.core.trajectory import REFERENCE_KEY, ReferenceMissing, evaluate, judged_steps


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    rationale: str


Check = Callable[[Trace, Step], CheckResult]


def known_checks(extra: dict[str, Check] | None = None) -> dict[str, Check]:
    """Checks installed as `chainjudge.checks` plug-ins, plus any passed in (tests, scripts)."""
    from chainjudge.core.plugins import checks

    return {**checks(), **(extra or {})}


class CheckInputMissing(ValueError):
    """The trace lacks what the check needs from the harness side (no user state): recorded as an error,
    because the harness, not the agent, is at fault."""


class AgentOutputUnusable(ValueError):
    """The agent gave nothing the check can judge (no decision, an unparseable one): the criterion FAILS
    with this reason.  An agent that decides nothing has not honoured the policy; counting it as unscored
    would compute pass rates over the agents that managed to answer."""


def run_checks(traces: Sequence[Trace], rubric: Rubric, run: str, extra: dict[str, Check] | None = None) -> list[Judgment]:
    """Judgments for every deterministic criterion of the rubric: a named check on every step it applies
    to, a trajectory assertion where `trajectory.judged_steps` records it."""
    criteria = [c for c in rubric.criteria if c.check]
    assertions = [c for c in rubric.criteria if c.assertion]
    if not criteria and not assertions:
        return []
    registry = known_checks(extra) if criteria else {}
    version = rubric_hash(rubric)
    judgments = []
    for trace in traces:
        for step in trace.steps:
            for criterion in criteria:
                if step.kind not in criterion.applies_to:
                    continue
                judgments.append(_judge(trace, step, criterion, run, rubric.id, version, registry))
        for criterion in assertions:
            judgments += [_assert(trace, step, criterion, run, rubric.id, version) for step in judged_steps(criterion, trace)]
    return judgments


def _identity(
    material: str, trace: Trace, step: Step, criterion: Criterion, run: str, rubric_id: str, version: str, judge: str
) -> dict[str, Any]:
    """What a check's judgment carries: its place, the check as its judge, and a cache key hashed from MATERIAL
    (everything the outcome depends on)."""
    key = hashlib.sha256(material.encode()).hexdigest()[:32]
    return {
        "run": run,
        "trace_id": trace.id,
        "step_index": step.index,
        "step_ref": step.ref,
        "criterion_id": criterion.id,
        "judge": judge,
        "judge_kind": "check",
        "rubric_id": rubric_id,
        "rubric_hash": version,
        "prompt_hash": key[:16],
        "cache_key": key,
    }


def _assert(trace: Trace, step: Step, criterion: Criterion, run: str, rubric_id: str, version: str) -> Judgment:
    """A trajectory assertion's judgment; its cache key covers the whole trace it reads."""
    if criterion.assertion is None:
        raise ValueError(f"criterion {criterion.id} has no trajectory assertion")
    material = json.dumps(
        [
            criterion.assertion.model_dump(mode="json"),
            version,
            criterion.id,
            step.index,
            [s.render() for s in trace.steps],
            trace.metadata.get(REFERENCE_KEY),
        ],
        sort_keys=True,
        default=str,
    )
    fields = _identity(material, trace, step, criterion, run, rubric_id, version, f"assert:{criterion.assertion.kind}")
    try:
        outcome = evaluate(criterion, trace, step)
    except ReferenceMissing as exc:
        return Judgment(**fields, error=f"check_input: {exc}", error_kind="check_input")
    label = "pass" if outcome.passed else "fail"
    return Judgment(**fields, verdict=Verdict(rationale=outcome.rationale, label=label, confidence=1.0), passed=outcome.passed)


def _judge(trace: Trace, step: Step, criterion: Criterion, run: str, rubric_id: str, version: str, registry: dict[str, Check]) -> Judgment:
    material = json.dumps(
        [criterion.check, version, criterion.id, step.render(), trace.metadata.get("user_state")], sort_keys=True, default=str
    )
    fields = _identity(material, trace, step, criterion, run, rubric_id, version, f"check:{criterion.check}")
    check = registry.get(criterion.check or "")
    if check is None:
        return Judgment(
            **fields, error=f"unknown_check: no check named {criterion.check!r}; known: {sorted(registry)}", error_kind="unknown_check"
        )
    try:
        result = check(trace, step)
    except AgentOutputUnusable as exc:
        result = CheckResult(False, f"no usable agent output: {exc}")
    except CheckInputMissing as exc:
        return Judgment(**fields, error=f"check_input: {exc}", error_kind="check_input")
    except Exception as exc:  # noqa: BLE001 - a crashing check is a harness failure, kept as data
        return Judgment(**fields, error=f"check_crashed: {type(exc).__name__}: {exc}"[:500], error_kind="check_crashed")
    label = "pass" if result.passed else "fail"
    return Judgment(**fields, verdict=Verdict(rationale=result.rationale, label=label, confidence=1.0), passed=result.passed)
