"""Selective judging with a guarantee: decide only where confident enough that agreement with people holds.

As in Trust or Escalate (Jung et al., ICLR 2025), each decision has a confidence (the calibrated
probability that the decided label is the reference's), and the verifier decides only the items at or
above a confidence cut, chosen on calibration items so that agreement on what it decides is at least
`target` with probability at least 1 - risk.  The cut is chosen as in Learn-then-Test (Angelopoulos et
al., 2021): a fixed grid of candidate cuts (the confidences that decide 10%, 20%, ..., 100% of the
calibration items) is tested with Bonferroni's correction: a cut passes when the exact (Clopper-Pearson)
upper bound of its disagreement rate at level risk / (number of cuts) is at most 1 - target, and the
passing cut that decides the most is kept.  Why not the fixed sequence from the strictest cut down: on
real labels the most confident items are not the most often right (on AgentProcessBench HotPotQA the top
10% of out-of-fold confidences held more disagreements than the top 40%), so a sequence that stops at its
first failure stopped at once and decided nothing.  None passing: the verifier decides nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import beta

MIN_DECIDED = 10  # fewer decided calibration items than this say nothing worth a guarantee
GRID = tuple(i / 10 for i in range(1, 11))  # candidate decided shares, each tested at risk / 10


@dataclass(frozen=True)
class Cut:
    confidence: float | None  # decide items whose confidence is at least this; None: decide nothing
    decided: int  # calibration items at or above it
    agreement: float | None  # observed agreement on them
    bound: float | None  # the guaranteed agreement (1 - the upper bound of disagreement) at that cut
    target: float
    risk: float


def upper_bound(errors: int, n: int, risk: float) -> float:
    """Exact one-sided (Clopper-Pearson) upper confidence bound of a binomial rate, level 1 - risk."""
    if n == 0:
        return 1.0
    if errors >= n:
        return 1.0
    return float(beta.ppf(1 - risk, errors + 1, n - errors))


def choose_cut(
    confidence: Sequence[float],
    correct: Sequence[bool],
    target: float = 0.9,
    risk: float = 0.1,
    min_decided: int = MIN_DECIDED,
    shares: Sequence[float] = GRID,
) -> Cut:
    """The confidence cut that decides the most calibration items while their agreement is at least
    `target` with probability 1 - risk (Bonferroni over the grid of decided shares)."""
    if not 0 < target < 1 or not 0 < risk < 1:
        raise ValueError(f"target and risk must be between 0 and 1; got {target}, {risk}")
    order = sorted(range(len(confidence)), key=lambda i: -confidence[i])
    each = risk / len(shares)
    kept = Cut(None, 0, None, None, target, risk)
    for share in shares:
        n = int(round(share * len(order)))
        if n < min_decided:
            continue
        level = confidence[order[n - 1]]
        decided = [i for i in order if confidence[i] >= level]  # ties at the cut are decided too
        errors = sum(not correct[i] for i in decided)
        bound = upper_bound(errors, len(decided), each)
        if bound <= 1 - target and len(decided) > kept.decided:
            kept = Cut(level, len(decided), 1 - errors / len(decided), 1 - bound, target, risk)
    return kept


def labels_for_a_guarantee(target: float, risk: float, shares: Sequence[float] = GRID) -> int:
    """The fewest decided calibration items that could meet the guarantee at all: even with no
    disagreement among them, fewer cannot bound agreement at `target` (a floor, said to people who ask why
    a verifier decides nothing yet)."""
    n = MIN_DECIDED
    while upper_bound(0, n, risk / len(shares)) > 1 - target:
        n += 1
    return n


def decided_share(confidence: Sequence[float], cut: Cut) -> float:
    if cut.confidence is None or not confidence:
        return 0.0
    return sum(c >= cut.confidence for c in confidence) / len(confidence)
