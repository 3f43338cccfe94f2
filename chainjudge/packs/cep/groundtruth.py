"""Ground-truth labels the scenarios carry, for the model-judged criteria they can settle.

The expected action says what the right offer and content language were, so a decision step's
`offer_fits` and `language_and_tone` have a ground truth: pass when the agent's offer / language is the
expected one.  Imported as ground-truth labels, they let calibration measure the model judge on these
criteria and queue its disagreements for people.
"""

from __future__ import annotations

from collections.abc import Iterable

from chainjudge.core.schema import Label, StepKind, Trace
from chainjudge.packs.cep.decisions import final_decision
from chainjudge.packs.cep.scenario import AgentDecision, Scenario

ANNOTATOR = "scenario-ground-truth"


def ground_truth_labels(traces: Iterable[Trace], scenarios: dict[str, Scenario]) -> list[Label]:
    labels = []
    for trace in traces:
        scenario = scenarios.get(str(trace.metadata.get("scenario_id") or trace.id))
        decision_step = next((s for s in reversed(trace.steps) if s.kind is StepKind.decision), None)
        if scenario is None or scenario.expected is None or decision_step is None:
            continue
        decided = final_decision(trace) or AgentDecision()
        expected = scenario.expected
        checks = {"offer_fits": decided.text("offer") == (expected.offer or None)}
        if expected.action != "suppress":
            checks["language_and_tone"] = decided.text("content_language") == expected.content_language
        for criterion, ok in checks.items():
            labels.append(
                Label(
                    trace_id=trace.id,
                    step_ref=decision_step.ref,
                    step_index=decision_step.index,
                    criterion=criterion,
                    value="pass" if ok else "fail",
                    annotator=ANNOTATOR,
                    kind="ground-truth",
                    note=f"expected {criterion.split('_')[0]}: "
                    f"{getattr(expected, 'offer' if criterion == 'offer_fits' else 'content_language')}",
                )
            )
    return labels
