"""An aligned judge's decision threshold, applied to one verdict (pure).

The judge's probability that a step fails is the probability mass of the failing labels (from token
log-probabilities) or, without them, the verdict's own confidence.  A threshold turns that into the
decision; when it overrules the judge's label, the most probable label of the other side is taken and
the judge's own label is kept in the judgment (`raw_label`), so nothing the judge said is lost.
"""

from __future__ import annotations

from chainjudge.core.schema import Scale, Verdict


def fail_probability(verdict: Verdict, label_probs: dict[str, float] | None, scale: Scale) -> float | None:
    """P(the step fails) by the judge's own account, or None when it gave no graded answer."""
    if label_probs:
        return sum(p for label, p in label_probs.items() if not scale.passes(label))
    if verdict.confidence is not None:
        return verdict.confidence if not scale.passes(verdict.label) else 1 - verdict.confidence
    return None


def apply_threshold(verdict: Verdict, label_probs: dict[str, float] | None, scale: Scale, threshold: float) -> tuple[Verdict, str | None]:
    """(the decided verdict, the judge's own label if the threshold changed it, else None)."""
    p_fail = fail_probability(verdict, label_probs, scale)
    if p_fail is None:
        return verdict, None
    fails = p_fail >= threshold
    if fails == (not scale.passes(verdict.label)):
        return verdict, None
    side = [label for label in scale.labels if scale.passes(label) != fails]
    probs = label_probs or {}
    chosen = max(side, key=lambda label: (probs.get(label, 0.0), -side.index(label)))
    return verdict.model_copy(update={"label": chosen}), verdict.label
