"""Off-policy evaluation: what a new policy (the agent) would have earned on logged decisions (pure).

A team's logs say, per row, which action the logging policy (today's system, a random holdout, an
exploration share) took, with what probability (its propensity), and what happened.  For a target policy
that gives each row's logged action a probability too, the classic estimators are (Dudik et al. 2011;
Wang et al. 2017; Saito et al. 2021, Open Bandit Pipeline):

- IPS: the mean of w * r, w = target / propensity (unbiased where the logging policy gives every action the
  target takes a positive probability);
- SNIPS: sum(w * r) / sum(w) (self-normalised: a little bias, much less variance);
- DM: the mean of a reward model's prediction under the target policy (no weights; as good as the model);
- DR: DM plus the weighted residual of the logged action (unbiased if either the propensities or the model
  are right, exact when the model is);
- Switch-DR: DR where the weight is at most tau, the model alone where it is larger (bounded variance).

Weights may be clipped (`clip`).  Intervals resample whole groups (users when the logs name them, else
rows), with every estimator and the incumbent's own value computed on the same resamples, so the
difference agent - incumbent has an interval too.  Every figure carries its diagnostics: effective sample
size of the weights, the largest weight, and the share of rows where the target's action had logging
support; when support or ESS is too thin, the estimate is withheld with a warning instead of a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

ESTIMATORS = ("dm", "ips", "snips", "dr", "switch-dr")
MIN_ESS = 100.0  # fewer effective rows than this: the weighted estimators say nothing worth a number
MIN_SUPPORT = 0.95  # share of rows whose target action the logging policy could have taken
CHUNK = 16  # bootstrap resamples computed at once (bounds memory on a million rows)


class OpeDataError(ValueError):
    """Logged arrays that cannot be evaluated: lengths differ, a propensity outside (0, 1], no rows."""


@dataclass(frozen=True)
class Logged:
    """One row per logged decision.  reward: its outcome; propensity: the logging policy's probability of
    the logged action; target: the target policy's probability of that same action; groups: what a
    resample keeps together (user ids as integers; row numbers when unknown); q_logged / q_target: a
    reward model's prediction for the logged action and its expectation under the target policy (DM, DR,
    Switch-DR need them); supported: whether the logging policy gave the target's action(s) on that row a
    positive probability (None: assumed, e.g. uniform exploration)."""

    reward: np.ndarray
    propensity: np.ndarray
    target: np.ndarray
    groups: np.ndarray
    q_logged: np.ndarray | None = None
    q_target: np.ndarray | None = None
    supported: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.reward)
        if n == 0:
            raise OpeDataError("no logged rows")
        for name in ("propensity", "target", "groups", "q_logged", "q_target", "supported"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise OpeDataError(f"{name} has {len(value)} rows, reward has {n}")
        p = np.asarray(self.propensity, dtype=float)
        if not np.all(np.isfinite(p)) or np.any(p <= 0) or np.any(p > 1):
            bad = int(np.flatnonzero(~(np.isfinite(p) & (p > 0) & (p <= 1)))[0])
            raise OpeDataError(f"row {bad}: propensity {p[bad]!r} is not in (0, 1]")
        t = np.asarray(self.target, dtype=float)
        if not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(t > 1):
            bad = int(np.flatnonzero(~(np.isfinite(t) & (t >= 0) & (t <= 1)))[0])
            raise OpeDataError(f"row {bad}: target probability {t[bad]!r} is not in [0, 1]")
        if not np.all(np.isfinite(np.asarray(self.reward, dtype=float))):
            raise OpeDataError("a reward is missing or not a number")


@dataclass(frozen=True)
class Diagnostics:
    rows: int
    groups: int
    ess: float  # (sum w)^2 / sum w^2 of the (clipped) weights
    max_weight: float
    support: float  # share of rows with logging support for the target's action
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Figure:
    """A value with its 95% interval over resamples of groups; value None when withheld (see warning)."""

    value: float | None
    low: float | None
    high: float | None
    warning: str | None = None


@dataclass(frozen=True)
class PolicyValue:
    estimator: str
    value: Figure  # the target policy's estimated value
    difference: Figure  # target - incumbent (the logged policy's own mean reward), same resamples
    ratio: Figure = Figure(None, None, None)  # target / incumbent, same resamples


@dataclass(frozen=True)
class OpeResult:
    incumbent: Figure  # the logging policy's value: its mean reward
    estimates: list[PolicyValue]
    diagnostics: Diagnostics
    clip: float | None = None
    switch_tau: float | None = None
    notes: list[str] = field(default_factory=list)

    def estimate(self, estimator: str) -> PolicyValue:
        return next(e for e in self.estimates if e.estimator == estimator)


def weights(logged: Logged, clip: float | None = None) -> np.ndarray:
    w = np.asarray(logged.target, dtype=float) / np.asarray(logged.propensity, dtype=float)
    return np.minimum(w, clip) if clip is not None else w


def diagnostics(logged: Logged, clip: float | None = None, min_ess: float = MIN_ESS, min_support: float = MIN_SUPPORT) -> Diagnostics:
    w = weights(logged, clip)
    total, squares = float(w.sum()), float((w * w).sum())
    ess = total * total / squares if squares > 0 else 0.0
    support = 1.0 if logged.supported is None else float(np.mean(logged.supported))
    warnings = []
    if support < min_support:
        warnings.append(
            f"the logging policy could have taken the target's action on only {support:.1%} of rows "
            f"(needs {min_support:.0%}): the weighted estimates are withheld, the rest is unsupported extrapolation"
        )
    if ess < min_ess:
        warnings.append(f"effective sample size of the weights is {ess:.1f} (needs {min_ess:.0f}): the weighted estimates are withheld")
    return Diagnostics(
        rows=len(w), groups=len(np.unique(logged.groups)), ess=ess, max_weight=float(w.max()), support=support, warnings=tuple(warnings)
    )


def _row_terms(logged: Logged, clip: float | None, switch_tau: float | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per estimator, (numerator per row, denominator per row): each value is sum(num) / sum(den) over the
    rows a resample keeps, so every estimator (and SNIPS's ratio) resamples with the same weights."""
    r = np.asarray(logged.reward, dtype=float)
    w = weights(logged, clip)
    ones = np.ones_like(r)
    terms = {"incumbent": (r, ones), "ips": (w * r, ones), "snips": (w * r, w)}
    if logged.q_logged is not None and logged.q_target is not None:
        q_logged, q_target = np.asarray(logged.q_logged, float), np.asarray(logged.q_target, float)
        terms["dm"] = (q_target, ones)
        terms["dr"] = (q_target + w * (r - q_logged), ones)
        tau = switch_tau if switch_tau is not None else default_switch_tau(w)
        terms["switch-dr"] = (q_target + np.where(w <= tau, w, 0.0) * (r - q_logged), ones)
    return terms


def default_switch_tau(w: np.ndarray) -> float:
    """Weights above the 99th percentile (and above 1) get the model alone."""
    return float(max(1.0, np.quantile(w, 0.99)))


def _group_sums(values: np.ndarray, inverse: np.ndarray, groups: int) -> np.ndarray:
    return np.bincount(inverse, weights=values, minlength=groups)


def _value(name: str, point: dict[str, float], samples: dict[str, np.ndarray]) -> PolicyValue:
    """One estimator's value, its difference from the logged policy's and its ratio to it, each with its interval."""
    value = Figure(point[name], *_interval(samples.get(name)))
    difference = Figure(point[name] - point["incumbent"], *_interval(None if name not in samples else samples[name] - samples["incumbent"]))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = None if name not in samples else samples[name] / samples["incumbent"]
    ratio = Figure(_ratio(point[name], point["incumbent"]), *_interval(ratios))
    return PolicyValue(name, value, difference, ratio)


def estimate(
    logged: Logged,
    clip: float | None = None,
    switch_tau: float | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    min_ess: float = MIN_ESS,
    min_support: float = MIN_SUPPORT,
) -> OpeResult:
    """Every estimator the arrays allow, with group-resampled 95% intervals and the diagnostics."""
    diag = diagnostics(logged, clip, min_ess, min_support)
    terms = _row_terms(logged, clip, switch_tau)
    _, inverse = np.unique(np.asarray(logged.groups), return_inverse=True)
    n_groups = int(inverse.max()) + 1
    sums = {name: (_group_sums(num, inverse, n_groups), _group_sums(den, inverse, n_groups)) for name, (num, den) in terms.items()}
    point = {name: _ratio(num.sum(), den.sum()) for name, (num, den) in sums.items()}
    samples = _bootstrap(sums, n_groups, bootstrap, seed)
    withheld = "; ".join(diag.warnings) or None
    weighted = {"ips", "snips", "dr", "switch-dr"}
    estimates = [
        PolicyValue(name, *[Figure(None, None, None, withheld)] * 3) if name in weighted and withheld else _value(name, point, samples)
        for name in ESTIMATORS
        if name in sums
    ]
    incumbent = Figure(point["incumbent"], *_interval(samples.get("incumbent")))
    notes = (
        ["DM's interval holds the fitted reward model fixed (it resamples users, not the fit): it understates DM's uncertainty"]
        if "dm" in sums
        else ["DM, DR and Switch-DR need a reward model (none given)"]
    )
    return OpeResult(
        incumbent=incumbent,
        estimates=estimates,
        diagnostics=diag,
        clip=clip,
        switch_tau=(switch_tau if switch_tau is not None else default_switch_tau(weights(logged, clip))) if "switch-dr" in sums else None,
        notes=notes,
    )


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else math.nan


def _bootstrap(sums: dict[str, tuple[np.ndarray, np.ndarray]], n_groups: int, resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Values of each term over RESAMPLES resamples of whole groups (multinomial counts), in chunks."""
    if resamples <= 0 or n_groups < 2:
        return {}
    rng = np.random.default_rng(seed)
    names = list(sums)
    out: dict[str, list[np.ndarray]] = {name: [] for name in names}
    numerators = np.stack([sums[name][0] for name in names])  # terms x groups
    denominators = np.stack([sums[name][1] for name in names])
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        counts = np.stack([np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups) for _ in range(size)]).astype(float)
        num = counts @ numerators.T  # size x terms
        den = counts @ denominators.T
        with np.errstate(invalid="ignore", divide="ignore"):
            values = num / den
        for i, name in enumerate(names):
            out[name].append(values[:, i])
    return {name: np.concatenate(parts) for name, parts in out.items()}


def _interval(samples: np.ndarray | None) -> tuple[float | None, float | None]:
    if samples is None:
        return None, None
    finite = samples[np.isfinite(samples)]
    if finite.size < 2:
        return None, None
    low, high = np.quantile(finite, [0.025, 0.975])
    return float(low), float(high)


def by_segment(logged: Logged, segments: Sequence[str], **options) -> dict[str, OpeResult]:
    """The same estimates within each segment (market, channel, LTV band ...), each with its own diagnostics."""
    labels = np.asarray(segments)
    out = {}
    for value in sorted(set(labels.tolist())):
        mask = labels == value
        out[value] = estimate(
            Logged(
                reward=np.asarray(logged.reward)[mask],
                propensity=np.asarray(logged.propensity)[mask],
                target=np.asarray(logged.target)[mask],
                groups=np.asarray(logged.groups)[mask],
                q_logged=None if logged.q_logged is None else np.asarray(logged.q_logged)[mask],
                q_target=None if logged.q_target is None else np.asarray(logged.q_target)[mask],
                supported=None if logged.supported is None else np.asarray(logged.supported)[mask],
            ),
            **options,
        )
    return out
