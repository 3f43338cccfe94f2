"""Choosing an aligned judge's decision threshold per criterion on the tune split.

Each tune judgment gives a probability that the step fails (label log-probabilities, or the verdict's
confidence); the threshold is the cut on it that maximises Cohen's kappa against people's labels on tune.
It is kept only where enough of both classes were seen and it beats the judge's own labels twice over: on
all of tune, and cross-validated, leaving one trace out at a time (the cut fitted on the other traces decides
the held-out one's steps).  The second test exists because the first is always easy to pass: a cut chosen
to maximise kappa on 16-40 steps fits their noise.  On the local judge a tune-only cut lifted tune kappa
0.167 -> 0.348 on HotPotQA and then scored -0.003 on held-out traces (README); its cross-validated kappa was
0.048, below the judge's own 0.167, so it is now refused.
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
    group: str = ""  # the step's trace: cross-validation holds out whole traces ("" = the step alone)


def binary_kappa(reference: Sequence[bool], predicted: Sequence[bool]) -> float:
    """Cohen's kappa of two pass/fail sequences (0 where chance agreement is total: one constant side)."""
    agree = sum(r == p for r, p in zip(reference, predicted, strict=True))
    return _kappa_of_counts(agree, sum(reference), sum(predicted), len(reference))


def _kappa_of_counts(agree: int, reference_fails: int, predicted_fails: int, n: int) -> float:
    """Binary Cohen's kappa from counts: steps agreeing, failing on each side, in all."""
    if n == 0:
        return 0.0
    r1, p1 = reference_fails / n, predicted_fails / n
    chance = r1 * p1 + (1 - r1) * (1 - p1)
    return 0.0 if chance >= 1 else (agree / n - chance) / (1 - chance)


def _best_cut(points: Sequence[Point]) -> tuple[float, float]:
    """(kappa, cut) of the kappa-maximising cut (ties: the one that changes fewest of the judge's labels).

    One sweep over the points sorted by P(fail), counting as it goes: cross-validation calls this once per
    trace, so it must stay O(n log n), not O(n^2)."""
    ordered = sorted(points, key=lambda p: p.p_fail)
    n = len(ordered)
    reference_fails = sum(p.reference_fails for p in ordered)
    judge_fails = sum(p.judge_fails for p in ordered)
    # below the cut (predicted pass): counts over ordered[:i]
    below_ref_fails = below_judge_fails = 0
    best: tuple[float, int, float] | None = None  # (kappa, -labels changed, cut)
    for i, point in enumerate(ordered):
        if i == 0 or point.p_fail != ordered[i - 1].p_fail:
            predicted_fail = n - i
            agree = (reference_fails - below_ref_fails) + (i - below_ref_fails)
            kappa = _kappa_of_counts(agree, reference_fails, predicted_fail, n)
            changed = (predicted_fail - (judge_fails - below_judge_fails)) + below_judge_fails
            candidate = (round(kappa, 12), -changed, point.p_fail)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        below_ref_fails += point.reference_fails
        below_judge_fails += point.judge_fails
    return best[0], best[2]  # type: ignore[index]


def cross_validated_kappa(points: Sequence[Point]) -> float | None:
    """Kappa of the cuts fitted with one trace held out at a time, each deciding the held-out steps; None with
    fewer than two traces (nothing to hold out against)."""
    groups = [p.group or f"step {i}" for i, p in enumerate(points)]
    if len(set(groups)) < 2:
        return None
    predicted: list[bool] = [False] * len(points)
    for held_out in set(groups):
        _, cut = _best_cut([p for p, g in zip(points, groups, strict=True) if g != held_out])
        for i, (p, g) in enumerate(zip(points, groups, strict=True)):
            if g == held_out:
                predicted[i] = p.p_fail >= cut
    return binary_kappa([p.reference_fails for p in points], predicted)


def choose_threshold(points: Sequence[Point], source: str) -> tuple[Threshold | None, str]:
    """The kappa-maximising cut, or None and why: too few of a class, no better than the judge's own labels on
    tune, or no better once cross-validated by trace."""
    failing = sum(p.reference_fails for p in points)
    passing = len(points) - failing
    if failing < MIN_EACH_CLASS or passing < MIN_EACH_CLASS:
        return None, f"too few tune judgments ({failing} failing, {passing} passing; {MIN_EACH_CLASS} of each needed)"
    as_said = binary_kappa([p.reference_fails for p in points], [p.judge_fails for p in points])
    kappa, cut = _best_cut(points)
    if kappa <= as_said + 1e-12:
        return None, f"no cut beats the judge's own labels on tune (kappa {as_said:.3f})"
    held_out = cross_validated_kappa(points)
    if held_out is None or held_out <= as_said + 1e-12:
        shown = "n/a" if held_out is None else f"{held_out:.3f}"
        return None, (
            f"the best cut (P(fail) >= {cut:.3g}, tune kappa {as_said:.3f} -> {kappa:.3f} on {len(points)} steps) "
            f"does not hold up leaving one trace out (kappa {shown}): not kept"
        )
    threshold = Threshold(
        p_fail=cut, source=source, tune_items=len(points), kappa_as_said=round(as_said, 4), kappa_at_threshold=round(kappa, 4)
    )
    return threshold, (
        f"fails at P(fail) >= {cut:.3g}: tune kappa {as_said:.3f} -> {kappa:.3f} on {len(points)} steps, "
        f"{held_out:.3f} leaving one trace out"
    )
