"""Failure attribution in multi-agent traces (pure): who made the decisive mistake, and at which step.

Against annotations (one per failed trace: the responsible agent and the decisive step), a strategy's
predictions are scored as in the Who&When benchmark (Zhang et al., ICML 2025): agent-level accuracy (the
responsible agent named, case-insensitive) and step-level accuracy (the decisive step exactly, and within
+-k steps), each with a 95% interval over traces (one outcome per trace: Wilson) and the item count,
beside the random baseline computed from the traces themselves: the mean over traces of 1/#agents and of
1/#steps.  How agents are counted changes that baseline, so both counts are given: distinct role strings
as the log writes them ("Orchestrator (thought)" and "Orchestrator (-> WebSurfer)" are two), and distinct
agents.

One strategy needs no model: the first step a run's judges failed, and its agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from chainjudge.analysis.stats import wilson_interval
from chainjudge.core.schema import AgentRow, Estimate, Judgment, Label, Trace


@dataclass(frozen=True)
class Attribution:
    """One trace's attribution: the responsible agent and the decisive step (its index in the trace)."""

    trace_id: str
    agent: str | None
    step: int | None


@dataclass(frozen=True)
class AttributionScore:
    strategy: str
    traces: int  # annotated traces scored
    answered: int  # ... for which the strategy named something
    agent_accuracy: Estimate
    step_accuracy: Estimate
    step_within: dict[int, Estimate]  # k -> accuracy within +-k steps


@dataclass(frozen=True)
class RandomBaseline:
    traces: int
    agent_by_role: float  # mean of 1 / distinct role strings
    agent_by_agent: float  # mean of 1 / distinct agents
    step: float  # mean of 1 / steps


def _same_agent(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().lower() == b.strip().lower()


def annotated_attributions(labels: Iterable[Label], criterion: str = "attribution") -> dict[str, Attribution]:
    """trace id -> the annotated attribution: the newest label per trace wins (a reviewer's correction
    over the imported annotation); a label without a time (an imported file's) counts as the oldest."""
    found: dict[str, Attribution] = {}
    for label in sorted(labels, key=_when):
        if label.criterion != criterion:
            continue
        step = int(label.step_ref) if label.step_ref is not None and label.step_ref.lstrip("-").isdigit() else label.step_index
        found[label.trace_id] = Attribution(label.trace_id, label.value, step)
    return found


def _when(label: Label) -> datetime:
    moment = label.created_at or datetime.min.replace(tzinfo=timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _estimate(hits: int, n: int) -> Estimate:
    if not n:
        return Estimate(value=None, low=None, high=None, n=0)
    low, high = wilson_interval(hits, n)
    return Estimate(value=hits / n, low=low, high=high, n=n)


def score(
    strategy: str, predictions: Mapping[str, Attribution], truth: Mapping[str, Attribution], within: Sequence[int] = (1, 3, 5)
) -> AttributionScore:
    """Accuracy over every annotated trace; a trace the strategy left unanswered counts as wrong."""
    ids = sorted(truth)
    agent_hits = step_hits = answered = 0
    near = {k: 0 for k in within}
    for trace_id in ids:
        want, got = truth[trace_id], predictions.get(trace_id)
        if got is None or (got.agent is None and got.step is None):
            continue
        answered += 1
        agent_hits += _same_agent(got.agent, want.agent)
        if got.step is not None and want.step is not None:
            step_hits += got.step == want.step
            for k in within:
                near[k] += abs(got.step - want.step) <= k
    return AttributionScore(
        strategy=strategy,
        traces=len(ids),
        answered=answered,
        agent_accuracy=_estimate(agent_hits, len(ids)),
        step_accuracy=_estimate(step_hits, len(ids)),
        step_within={k: _estimate(v, len(ids)) for k, v in near.items()},
    )


def random_baseline(traces: Iterable[Trace]) -> RandomBaseline:
    """Mean over traces of 1/#role strings, 1/#agents and 1/#steps (the benchmark's random baseline)."""
    by_role = by_agent = by_step = 0.0
    n = 0
    for trace in traces:
        if not trace.steps:
            continue
        roles = {str(s.metadata.get("role") or s.agent or s.kind.value) for s in trace.steps}
        agents = {(s.agent or s.kind.value).lower() for s in trace.steps}
        by_role += 1 / len(roles)
        by_agent += 1 / len(agents)
        by_step += 1 / len(trace.steps)
        n += 1
    return RandomBaseline(
        traces=n, agent_by_role=by_role / n if n else 0.0, agent_by_agent=by_agent / n if n else 0.0, step=by_step / n if n else 0.0
    )


def first_failing_step(traces: Mapping[str, Trace], judgments: Iterable[Judgment]) -> dict[str, Attribution]:
    """Per trace, the earliest step any of the run's judges failed, and the agent that produced it."""
    earliest: dict[str, int] = {}
    for j in judgments:
        if j.passed is False and (j.trace_id not in earliest or j.step_index < earliest[j.trace_id]):
            earliest[j.trace_id] = j.step_index
    out = {}
    for trace_id, index in earliest.items():
        trace = traces.get(trace_id)
        agent = trace.steps[index].agent if trace is not None and index < len(trace.steps) else None
        out[trace_id] = Attribution(trace_id, agent, index)
    return out


def most_likely_failing_step(
    traces: Mapping[str, Trace], judgments: Iterable[Judgment], passes: Callable[[str, str], bool]
) -> dict[str, Attribution]:
    """Per trace, the step the run's judges gave the highest probability of failing (a verifier's P(fail),
    a judge's label probabilities), and its agent.  `passes(criterion, label)` says which labels pass;
    judgments without label probabilities say nothing here.  Ties go to the earlier step."""
    best: dict[str, tuple[float, int]] = {}
    for j in judgments:
        if not j.label_probs:
            continue
        p_fail = sum(p for label, p in j.label_probs.items() if not passes(j.criterion_id, label))
        held = best.get(j.trace_id)
        if held is None or p_fail > held[0] or (p_fail == held[0] and j.step_index < held[1]):
            best[j.trace_id] = (p_fail, j.step_index)
    out = {}
    for trace_id, (_, index) in best.items():
        trace = traces.get(trace_id)
        agent = trace.steps[index].agent if trace is not None and index < len(trace.steps) else None
        out[trace_id] = Attribution(trace_id, agent, index)
    return out


def agent_at_annotated_step(traces: Mapping[str, Trace], truth: Mapping[str, Attribution]) -> tuple[int, int]:
    """(traces whose step at the annotated index was produced by the annotated agent, traces checked):
    how far ingestion kept agents where the annotation says they acted."""
    hits = checked = 0
    for trace_id, want in truth.items():
        trace = traces.get(trace_id)
        if trace is None or want.step is None or not 0 <= want.step < len(trace.steps):
            continue
        checked += 1
        hits += _same_agent(trace.steps[want.step].agent, want.agent)
    return hits, checked


def per_agent(traces: Mapping[str, Trace], judgments: Iterable[Judgment]) -> list[AgentRow]:
    """Per agent of a multi-agent run: scored judgments of its steps and the share that failed, with a
    Wilson interval (empty when no judged step has an agent)."""
    counts: dict[str, list] = {}
    for j in judgments:
        trace = traces.get(j.trace_id)
        if j.passed is None or trace is None or j.step_index >= len(trace.steps):
            continue
        step = trace.steps[j.step_index]
        if not step.agent:
            continue
        row = counts.setdefault(step.agent, [step.agent_kind, 0, 0])
        row[1] += 1
        row[2] += not j.passed
    return [
        AgentRow(agent=agent, kind=kind, judged=n, failed=failed, failure_rate=_estimate(failed, n))
        for agent, (kind, n, failed) in sorted(counts.items(), key=lambda item: (-item[1][2], item[0]))
    ]
