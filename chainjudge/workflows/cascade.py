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

from chainjudge.analysis.verifier import confidence, decisions, p_fail
from chainjudge.analysis.verifier_features import run_features, step_features
from chainjudge.core.schema import Criterion, Judgment, Trace, Verdict, Verifier, WorkItem

ABSTAINED = "abstained"


def _labels_for(criterion: Criterion) -> tuple[str, str]:
    """(the label a failing step gets, the label a passing one gets) on the criterion's scale."""
    labels = criterion.scale.labels
    fail = next((label for label in labels if not criterion.scale.passes(label)), labels[-1])
    passing = next((label for label in labels if criterion.scale.passes(label)), labels[0])
    return fail, passing


class CascadeJudge:
    """Verifier first; the fallback (a model judge, or None) for what it does not decide."""

    def __init__(self, verifier: Verifier, traces: Mapping[str, Trace], fallback=None,
                 verdicts: Mapping[tuple[str, str], dict] | None = None) -> None:
        self.verifier = verifier
        self.traces = traces
        self.verdicts = verdicts or {}  # the judgments of the verifier's `from_run`, when it reads one
        self.fallback = fallback
        self.name = f"verifier:{verifier.tag}" + (f"+{fallback.name}" if fallback is not None else "")
        self.max_in_flight = getattr(fallback, "max_in_flight", None) if fallback is not None else None
        self.decided = self.abstained = 0

    def recipe(self):
        return self.fallback.recipe() if self.fallback is not None and hasattr(self.fallback, "recipe") else None

    def score(self, item: WorkItem) -> tuple[float, bool, bool] | None:
        """(P(fail), fails, decided) for the item's step, or None when the trace is not at hand."""
        trace = self.traces.get(item.trace_id)
        if trace is None or item.step.index >= len(trace.steps):
            return None
        step = trace.steps[item.step.index]
        features = step_features(trace, step, self.verifier.reference_features)
        if self.verifier.run_criteria:
            features += run_features(self.verdicts.get((trace.id, step.ref), {}), self.verifier.run_criteria)
        probability = p_fail(self.verifier, [features])
        fails, decided = decisions(self.verifier, probability)
        return float(probability[0]), bool(fails[0]), bool(decided[0])

    def _judgment(self, item: WorkItem, criterion: Criterion, probability: float, fails: bool, decided: bool) -> Judgment:
        fail_label, pass_label = _labels_for(criterion)
        sure = float(confidence(__import__("numpy").array([probability]), self.verifier.cut)[0])
        common = dict(run=item.run, trace_id=item.trace_id, step_index=item.step.index, step_ref=item.step.ref,
                      criterion_id=criterion.id, judge=f"verifier:{self.verifier.tag}", rubric_id=item.rubric_id,
                      rubric_hash=item.rubric_hash, prompt_hash=item.prompt_hash, cache_key=item.cache_keys[criterion.id],
                      label_probs={fail_label: round(probability, 6), pass_label: round(1 - probability, 6)},
                      flags=list(item.flags), attempts=0)
        if decided:
            label = fail_label if fails else pass_label
            return Judgment(**common, passed=not fails, verdict=Verdict(
                rationale=f"verifier {self.verifier.tag}: P(fail) {probability:.3f}, confidence {sure:.3f} "
                          f"(decides at >= {self.verifier.selective.confidence:.3f})", label=label, confidence=sure))
        level = self.verifier.selective.confidence
        return Judgment(**common, error=f"{ABSTAINED}: P(fail) {probability:.3f}, confidence {sure:.3f} is below the "
                                        f"verifier's cut ({'none met its guarantee' if level is None else f'{level:.3f}'})",
                        error_kind=ABSTAINED)

    async def judge(self, item: WorkItem, limiter=None) -> list[Judgment]:
        mine = next((c for c in item.criteria if c.id == self.verifier.criterion), None)
        scored = self.score(item) if mine is not None else None
        if scored is not None and scored[2]:
            self.decided += 1
            own = self._judgment(item, mine, *scored)
            if len(item.criteria) == 1:
                return [own]
            rest = await self._fallback(item, limiter)  # the other criteria of a batched call still need the model
            return [own, *(j for j in rest if j.criterion_id != mine.id)]
        if scored is not None:
            self.abstained += 1
        if self.fallback is not None:
            return await self.fallback.judge(item, limiter)
        if scored is None:
            raise ValueError(f"the verifier cannot judge {item.trace_id} step {item.step.ref}: no trace or no criterion")
        return [self._judgment(item, mine, *scored)]

    async def _fallback(self, item: WorkItem, limiter) -> list[Judgment]:
        if self.fallback is None:
            return [Judgment(run=item.run, trace_id=item.trace_id, step_index=item.step.index, step_ref=item.step.ref,
                             criterion_id=c.id, judge=self.name, rubric_id=item.rubric_id, rubric_hash=item.rubric_hash,
                             prompt_hash=item.prompt_hash, cache_key=item.cache_keys[c.id], error_kind=ABSTAINED,
                             error=f"{ABSTAINED}: the verifier judges {self.verifier.criterion} only and no model judge was given")
                    for c in item.criteria if c.id != self.verifier.criterion]
        return await self.fallback.judge(item, limiter)
