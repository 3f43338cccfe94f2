"""Attribution in the review app: a failed multi-agent trace laid out in per-agent lanes, and a
reviewer's confirmation or correction of who made the decisive mistake, and at which step.

A reviewer's answer is stored like every adjudication: a new human label row (criterion `attribution`,
on the decisive step, valued with the agent, the reviewer as annotator), so `chainjudge attribute`
scores strategies against it and the newest answer per trace counts.  Nothing here is pre-filled from
the annotation or a judge's guess: the form starts empty, so no anchor is recorded as a choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainjudge.core.schema import Label, Provenance, Trace, utc_now
from chainjudge.core.store import Store
from chainjudge.errors import ChainjudgeError

CRITERION = "attribution"
HUMAN = "(human)"  # the lane of steps no agent wrote (the user, the task)


class AttributionRejected(ChainjudgeError, ValueError):
    """The reviewer's answer names an agent or a step the trace does not have (nothing was written)."""


@dataclass(frozen=True)
class Lane:
    """One step placed in its agent's lane."""

    index: int
    ref: str
    lane: int
    agent: str
    kind: str
    text: str


def agents_of(trace: Trace) -> list[str]:
    """The trace's agents in order of first appearance (steps without an agent form the human lane)."""
    seen: list[str] = []
    for step in trace.steps:
        name = step.agent or HUMAN
        if name not in seen:
            seen.append(name)
    return seen


def lanes(trace: Trace, text_chars: int = 1200) -> tuple[list[str], list[Lane]]:
    """(lane names, every step in its lane), steps in trace order; long texts are cut with a visible note."""
    names = agents_of(trace)
    placed = []
    for step in trace.steps:
        text = step.render()
        if len(text) > text_chars:
            text = text[:text_chars] + f" ... ({len(text) - text_chars:,} more characters)"
        name = step.agent or HUMAN
        placed.append(Lane(step.index, step.ref, names.index(name), name, step.kind.value, text))
    return names, placed


def responsible_candidates(trace: Trace) -> list[str]:
    """The agents a decisive mistake can be put on: every named agent but the human asking."""
    humans = {s.agent for s in trace.steps if s.agent_kind == "human"}
    return [a for a in agents_of(trace) if a != HUMAN and a not in humans]


def is_multi_agent(trace: Trace) -> bool:
    return len(responsible_candidates(trace)) >= 2


def attributions(store: Store, trace_id: str) -> list[Label]:
    """Every attribution label on the trace (annotations imported, reviewers' answers), oldest first; a
    label without a time (an imported file's) counts as the oldest."""
    mine = [label for label in store.labels(criterion=CRITERION) if label.trace_id == trace_id]
    return sorted(mine, key=lambda label: label.created_at.timestamp() if label.created_at else float("-inf"))


def annotated_traces(store: Store) -> list[str]:
    """Trace ids that carry an attribution label, in id order."""
    return sorted({label.trace_id for label in store.labels(criterion=CRITERION)})


def record(store: Store, trace: Trace, reviewer: str, agent: str, step_index: int, note: str | None = None) -> Label:
    """Store the reviewer's attribution as a new label row; refused (nothing written) for an agent the
    trace does not have or a step outside it."""
    names = responsible_candidates(trace)
    if agent not in names:
        raise AttributionRejected(f"{agent!r} is not an agent of {trace.id} (its agents: {', '.join(names) or 'none'})")
    step = next((s for s in trace.steps if s.index == step_index), None)
    if step is None:
        raise AttributionRejected(f"{trace.id} has no step {step_index} (steps 0..{len(trace.steps) - 1})")
    label = Label(
        trace_id=trace.id,
        step_ref=step.ref,
        step_index=step.index,
        criterion=CRITERION,
        value=agent,
        annotator=reviewer,
        kind="human",
        note=note or None,
        created_at=utc_now(),
        source=Provenance.review_reference("attribution"),
    )
    store.add_labels([label])
    return label
