"""The cascade: a verifier decides first, the model judge gets what it abstains on, people get the rest.

`CascadeJudge` stands where the engine expects a judge.  For a work item whose criteria include the
verifier's, the verifier scores the step from the whole recorded trace (milliseconds, no call); where its
confidence is at or above its selective cut, its decision is the judgment (judge `verifier:NAME@VERSION`,
with P(fail) kept).  Where it is not, the model judge is asked, or, with no model judge, the judgment is
an abstention: an error of kind `abstained`, counted as unscored (unknown, never evidence) and put first
in the review queue.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from chainjudge.analysis.verifier import confidence, decisions, p_fail
from chainjudge.analysis.verifier_features import run_features, step_features
from chainjudge.core.schema import Criterion, ErrorKind, Judgment, Trace, Verdict, Verifier, WorkItem

ABSTAINED = ErrorKind.abstained.value


def _labels_for(criterion: Criterion) -> tuple[str, str]:
    """(the label a failing step gets, the label a passing one gets) on the criterion's scale."""
    labels = criterion.scale.labels
    fail = next((label for label in labels if not criterion.scale.passes(label)), labels[-1])
    passing = next((label for label in labels if criterion.scale.passes(label)), labels[0])
    return fail, passing


class CascadeJudge:
    """Verifiers first (one per criterion); the fallback (a model judge, or None) for what they do not decide.

    `verifiers` may be one verifier or several (each for its own criterion); `verdicts` is, per verifier
    name, the judgments of its `from_run` (or, for one verifier, that run's judgments directly)."""

    def __init__(self, verifiers, traces: Mapping[str, Trace], fallback=None, verdicts: Mapping | None = None) -> None:
        chosen = [verifiers] if isinstance(verifiers, Verifier) else list(verifiers)
        self.by_criterion = {v.criterion: v for v in chosen}
        if len(self.by_criterion) != len(chosen):
            raise ValueError("two verifiers for one criterion: give one per criterion")
        if verdicts is not None and isinstance(verifiers, Verifier):
            verdicts = {verifiers.name: verdicts}
        self.verdicts = dict(verdicts or {})  # verifier name -> the judgments of its from_run
        self.traces = traces
        self.fallback = fallback
        tags = ",".join(f"verifier:{v.tag}" for v in chosen)
        self.name = tags + (f"+{fallback.name}" if fallback is not None else "")
        self.max_in_flight = getattr(fallback, "max_in_flight", None) if fallback is not None else None
        self.decided = self.abstained = 0

    @property
    def verifier(self) -> Verifier:
        """The verifier, when there is one (kept for callers that give one)."""
        return next(iter(self.by_criterion.values()))

    def recipe(self):
        return self.fallback.recipe() if self.fallback is not None and hasattr(self.fallback, "recipe") else None

    def score(self, item: WorkItem, verifier: Verifier | None = None) -> tuple[float, bool, bool] | None:
        """(P(fail), fails, decided) of VERIFIER for the item's step, or None when the trace is not at hand."""
        verifier = verifier or self.verifier
        trace = self.traces.get(item.trace_id)
        if trace is None or item.step.index >= len(trace.steps):
            return None
        step = trace.steps[item.step.index]
        features = step_features(trace, step, verifier.reference_features)
        if verifier.run_criteria:
            features += run_features(self.verdicts.get(verifier.name, {}).get((trace.id, step.ref), {}), verifier.run_criteria)
        probability = p_fail(verifier, [features])
        fails, decided = decisions(verifier, probability)
        return float(probability[0]), bool(fails[0]), bool(decided[0])

    def _judgment(
        self, item: WorkItem, criterion: Criterion, probability: float, fails: bool, decided: bool, verifier: Verifier | None = None
    ) -> Judgment:
        verifier = verifier or self.verifier
        fail_label, pass_label = _labels_for(criterion)
        sure = float(confidence(np.array([probability]), verifier.cut)[0])
        common = dict(
            **item.identity(criterion.id, f"verifier:{verifier.tag}"),
            label_probs={fail_label: round(probability, 6), pass_label: round(1 - probability, 6)},
            flags=list(item.flags),
            attempts=0,
        )
        if decided:
            label = fail_label if fails else pass_label
            return Judgment(
                **common,
                passed=not fails,
                verdict=Verdict(
                    rationale=f"verifier {verifier.tag}: P(fail) {probability:.3f}, confidence {sure:.3f} "
                    f"(decides at >= {verifier.selective.confidence:.3f})",
                    label=label,
                    confidence=sure,
                ),
            )
        level = verifier.selective.confidence
        return Judgment(
            **common,
            error=f"{ABSTAINED}: P(fail) {probability:.3f}, confidence {sure:.3f} is below the "
            f"verifier's cut ({'none met its guarantee' if level is None else f'{level:.3f}'})",
            error_kind=ABSTAINED,
        )

    async def judge(self, item: WorkItem, limiter=None) -> list[Judgment]:
        own: dict[str, Judgment] = {}  # criterion -> the verifier's decision
        undecided: dict[str, Judgment] = {}  # criterion -> its abstention (used when no model judge is given)
        for criterion in item.criteria:
            verifier = self.by_criterion.get(criterion.id)
            scored = self.score(item, verifier) if verifier is not None else None
            if scored is None:
                continue
            judgment = self._judgment(item, criterion, *scored, verifier=verifier)
            if scored[2]:
                self.decided += 1
                own[criterion.id] = judgment
            else:
                self.abstained += 1
                undecided[criterion.id] = judgment
        if len(own) == len(item.criteria):
            return list(own.values())
        if self.fallback is not None:
            rest = await self.fallback.judge(item, limiter)  # the batched call still asks every criterion
            return [*own.values(), *(j for j in rest if j.criterion_id not in own)]
        if not own and not undecided:
            raise ValueError(f"no verifier can judge {item.trace_id} step {item.step.ref}: no trace or no criterion")
        unjudged = [self._no_verifier(item, c) for c in item.criteria if c.id not in own and c.id not in undecided]
        return [*own.values(), *undecided.values(), *unjudged]

    def _no_verifier(self, item: WorkItem, criterion: Criterion) -> Judgment:
        """An abstention for a criterion no verifier judges, when no model judge was given to fall back on."""
        return Judgment(
            **item.identity(criterion.id, self.name),
            error_kind=ABSTAINED,
            error=f"{ABSTAINED}: no verifier judges {criterion.id} and no model judge was given",
        )
