"""Choosing an aligned judge's decision threshold per criterion on the tune split.

Each tune judgment gives a probability that the step fails (label log-probabilities, or the verdict's
confidence); the threshold is the cut on it that maximises Cohen's kappa against people's labels on tune.
It is kept only where it beats the judge's own labels on tune and enough of both classes were seen: a
threshold fitted to a handful of steps is noise, and an unhelpful one should not silently change labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chainjudge.core.schema import Threshold

MIN_EACH_CLASS = 5  # failing and passing reference steps on tune, at least, before a threshold is fitted


@dataclass(frozen=True)
class Point:
    p_fail: float  # the judge's probability that the step fails
    reference_fails: bool
    judge_fails: bool  # the judge's own label


def binary_kappa(reference: Sequence[bool], predicted: Sequence[bool]) -> float:
    """Cohen's kappa of two pass/fail sequences (0 where chance agreement is total: one constant side)."""
    n = len(reference)
    if n == 0:
        return 0.0
    observed = sum(r == p for r, p in zip(reference, predicted)) / n
    r1, p1 = sum(reference) / n, sum(predicted) / n
    chance = r1 * p1 + (1 - r1) * (1 - p1)
    return 0.0 if chance >= 1 else (observed - chance) / (1 - chance)


def choose_threshold(points: Sequence[Point], source: str) -> tuple[Threshold | None, str]:
    """The kappa-maximising cut (ties: the one that changes fewest of the judge's labels), or None and why."""
    failing = sum(p.reference_fails for p in points)
    passing = len(points) - failing
    if failing < MIN_EACH_CLASS or passing < MIN_EACH_CLASS:
        return None, f"too few tune judgments ({failing} failing, {passing} passing; {MIN_EACH_CLASS} of each needed)"
    reference = [p.reference_fails for p in points]
    as_said = binary_kappa(reference, [p.judge_fails for p in points])
    best: tuple[float, int, float] | None = None  # (kappa, -labels changed, cut)
    for cut in sorted({p.p_fail for p in points}):
        predicted = [p.p_fail >= cut for p in points]
        kappa = binary_kappa(reference, predicted)
        changed = sum(pred != p.judge_fails for pred, p in zip(predicted, points))
        candidate = (round(kappa, 12), -changed, cut)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    kappa, _, cut = best  # type: ignore[misc]
    if kappa <= as_said + 1e-12:
        return None, f"no cut beats the judge's own labels on tune (kappa {as_said:.3f})"
    threshold = Threshold(p_fail=cut, source=source, tune_items=len(points), kappa_as_said=round(as_said, 4),
                          kappa_at_threshold=round(kappa, 4))
    return threshold, f"fails at P(fail) >= {cut:.3g}: tune kappa {as_said:.3f} -> {kappa:.3f} on {len(points)} steps"
