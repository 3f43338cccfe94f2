"""Fit and apply a verifier (pure: arrays in, a `Verifier` model out; no store, no files).

scikit-learn's logistic regression on standardised features, evaluated out of fold with whole groups held
out (GroupKFold: every trajectory of one question together, so no fold has seen another trajectory of a
question it is scored on), calibrated by Platt scaling on those out-of-fold scores, its decision cut the
kappa-best on them, and its selective cut chosen on them with the fixed-sequence guarantee
(`selective.py`).  The final model is refitted on all the tune items.  Stored as numbers, so applying it
needs numpy alone and loading it runs no code.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainjudge.analysis.selective import choose_cut, decided_share
from chainjudge.analysis.threshold_fit import binary_kappa
from chainjudge.core.schema import SelectiveCut, Verifier

MIN_EACH_CLASS = 5
MAX_FOLDS = 5


class VerifierDataError(ValueError):
    """Too few labelled items, or of one class only, to learn from."""


@dataclass(frozen=True)
class Row:
    """One labelled step: its features, whether the reference label fails it, and its group."""

    features: list[float]
    fails: bool
    group: str
    item: tuple[str, str]  # (trace id, step key) for provenance and the leak tests


def label_set_hash(rows: Sequence[Row]) -> str:
    material = json.dumps(sorted([list(r.item), r.fails] for r in rows))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _fit_logistic(x: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=seed)
    model.fit(x, y)
    return model


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def out_of_fold_scores(x: np.ndarray, y: np.ndarray, groups: Sequence[str], seed: int = 0) -> np.ndarray:
    """Each item's decision score from a model that never saw its group."""
    from sklearn.model_selection import GroupKFold

    folds = min(MAX_FOLDS, len(set(groups)))
    scores = np.zeros(len(y))
    for train, held in GroupKFold(n_splits=folds).split(x, y, groups):
        if len(set(y[train].tolist())) < 2:
            scores[held] = 0.0
            continue
        mean, scale = _standardise(x[train])
        model = _fit_logistic((x[train] - mean) / scale, y[train], seed)
        scores[held] = model.decision_function((x[held] - mean) / scale)
    return scores


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6, max_iter=2000).fit(scores.reshape(-1, 1), y)
    return float(model.coef_[0][0]), float(model.intercept_[0])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def _kappa_best_cut(p_fail: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    best = (-2.0, 0.5)
    for cut in sorted(set(np.round(p_fail, 6).tolist())):
        kappa = binary_kappa(y.tolist(), (p_fail >= cut).tolist())
        if kappa > best[0] + 1e-12:
            best = (kappa, cut)
    return best[1], best[0]


def _weighted_kappa(weights: np.ndarray, y: np.ndarray, fails: np.ndarray) -> float | None:
    n = weights.sum()
    if n == 0:
        return None
    agree = (weights * (y == fails)).sum() / n
    p_ref, p_dec = (weights * y).sum() / n, (weights * fails).sum() / n
    chance = p_ref * p_dec + (1 - p_ref) * (1 - p_dec)
    return None if chance >= 1 else float((agree - chance) / (1 - chance))


def _group_resamples(groups: Sequence[str], seed: int, resamples: int):
    """Item weights of bootstrap resamples of whole groups."""
    names = sorted(set(groups))
    index = {g: i for i, g in enumerate(names)}
    member = np.array([index[g] for g in groups])
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        yield np.bincount(rng.integers(0, len(names), len(names)), minlength=len(names))[member]


def grouped_kappa_low(y: np.ndarray, fails: np.ndarray, groups: Sequence[str], seed: int = 0, resamples: int = 500) -> float | None:
    """The 2.5th percentile of kappa over bootstrap resamples of whole groups (None when undefined)."""
    values = [k for w in _group_resamples(groups, seed, resamples) if (k := _weighted_kappa(w, y, fails)) is not None]
    return float(np.percentile(values, 2.5)) if values else None


def kappa_gain_low(
    y: np.ndarray, before: np.ndarray, after: np.ndarray, groups: Sequence[str], seed: int = 0, resamples: int = 500
) -> float | None:
    """The 5th percentile of kappa(after) - kappa(before) over paired resamples of whole groups: above 0
    means the change helped beyond what resampling the tasks explains."""
    gains = []
    for w in _group_resamples(groups, seed, resamples):
        a, b = _weighted_kappa(w, y, before), _weighted_kappa(w, y, after)
        if a is not None and b is not None:
            gains.append(b - a)
    return float(np.percentile(gains, 5)) if gains else None


def out_of_fold_fails(rows: Sequence[Row], seed: int = 0) -> np.ndarray:
    """Each item's call (fails or not) by the calibrated verifier fitted without its group, at the
    kappa-best cut: what `fit_verifier` decides out of fold."""
    x = np.array([r.features for r in rows], dtype=float)
    y = np.array([r.fails for r in rows], dtype=int)
    _, _, p_oof, cut, _ = _out_of_fold(x, y, [r.group for r in rows], seed)
    return p_oof >= cut


def _out_of_fold(x: np.ndarray, y: np.ndarray, groups: Sequence[str], seed: int):
    """(Platt a, b, calibrated out-of-fold P(fail), kappa-best cut, its kappa)."""
    scores = out_of_fold_scores(x, y, groups, seed)
    a, b = _platt(scores, y)
    p_oof = _sigmoid(a * scores + b)
    cut, kappa = _kappa_best_cut(p_oof, y)
    return a, b, p_oof, cut, kappa


def confidence(p_fail: np.ndarray, cut: float) -> np.ndarray:
    """How sure a decision is: P(fail) for a failing call, 1 - P(fail) for a passing one."""
    return np.where(p_fail >= cut, p_fail, 1.0 - p_fail)


def _check_teachable(y: np.ndarray, groups: list[str], criterion: str, group_key: str) -> None:
    """Enough of each class, and two groups at least, for a cross-validated fit."""
    if (y == 1).sum() < MIN_EACH_CLASS or (y == 0).sum() < MIN_EACH_CLASS:
        raise VerifierDataError(
            f"{criterion}: {int((y == 1).sum())} failing and {int((y == 0).sum())} passing labelled "
            f"tune steps; at least {MIN_EACH_CLASS} of each are needed"
        )
    if len(set(groups)) < 2:
        raise VerifierDataError(f"{criterion}: all labelled tune steps are in one {group_key}; cross-validation needs two")


def _selective(p_oof: np.ndarray, cut: float, y: np.ndarray, target: float, risk: float) -> SelectiveCut:
    """The confidence above which its out-of-fold decisions agree with people at `target`, at `risk`."""
    decided = confidence(p_oof, cut)
    correct = (p_oof >= cut) == (y == 1)
    chosen = choose_cut(decided.tolist(), correct.tolist(), target, risk)
    return SelectiveCut(
        confidence=chosen.confidence,
        target=target,
        risk=risk,
        decided_share=decided_share(decided.tolist(), chosen),
        agreement=chosen.agreement,
        bound=chosen.bound,
    )


def _skill_shown(y: np.ndarray, decided_fail: np.ndarray, groups: Sequence[str], seed: int, kappa: float, where: str) -> float:
    """The out-of-fold kappa's 95% lower bound (resampling whole groups); VerifierDataError unless it is
    above 0: a verifier must show skill before it decides anything."""
    low = grouped_kappa_low(y, decided_fail, groups, seed)
    if low is None or low <= 0:
        raise VerifierDataError(
            f"{where} its kappa is {kappa:.3f} with a 95% "
            f"lower bound of {'-' if low is None else f'{low:.3f}'}: no better than chance on these "
            "labels, so it was not stored (a verifier must show skill before it decides anything)"
        )
    return low


def _final_model(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Any]:
    """The logistic model on all tune rows, standardised: the verifier's mean, scale, coefficients and intercept."""
    mean, scale = _standardise(x)
    final = _fit_logistic((x - mean) / scale, y, seed)
    return {"mean": mean.tolist(), "scale": scale.tolist(), "coef": final.coef_[0].tolist(), "intercept": float(final.intercept_[0])}


def fit_verifier(
    rows: Sequence[Row],
    name: str,
    criterion: str,
    failing: Sequence[str],
    features: Sequence[str],
    reference_features: bool,
    group_key: str,
    target: float = 0.9,
    risk: float = 0.1,
    seed: int = 0,
) -> Verifier:
    """A verifier from the tune rows; raises VerifierDataError when they cannot teach one."""
    y = np.array([r.fails for r in rows], dtype=int)
    groups = [r.group for r in rows]
    _check_teachable(y, groups, criterion, group_key)
    x = np.array([r.features for r in rows], dtype=float)
    a, b, p_oof, cut, kappa = _out_of_fold(x, y, groups, seed)
    low = _skill_shown(y, p_oof >= cut, groups, seed, kappa, f"{criterion}: out of fold (whole {group_key}s held out)")
    return Verifier(
        name=name,
        criterion=criterion,
        failing=sorted(failing),
        features=list(features),
        reference_features=reference_features,
        **_final_model(x, y, seed),
        platt_a=a,
        platt_b=b,
        cut=float(cut),
        selective=_selective(p_oof, cut, y, target, risk),
        label_set_hash=label_set_hash(rows),
        tune_items=len(rows),
        tune_failing=int(y.sum()),
        tune_groups=len(set(groups)),
        oof_kappa=None if math.isnan(kappa) else kappa,
        oof_kappa_low=low,
        group_key=group_key,
    )


def p_fail(verifier: Verifier, features: Sequence[Sequence[float]]) -> np.ndarray:
    """Calibrated P(fail) for each row of features (in the verifier's feature order)."""
    x = np.asarray(features, dtype=float).reshape(-1, len(verifier.features))
    score = ((x - np.array(verifier.mean)) / np.array(verifier.scale)) @ np.array(verifier.coef) + verifier.intercept
    return _sigmoid(verifier.platt_a * score + verifier.platt_b)


def decisions(verifier: Verifier, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fails, decided): the verifier's call on each item, and whether it decides it or abstains."""
    fails = probabilities >= verifier.cut
    level = verifier.selective.confidence
    decided = np.zeros(len(probabilities), dtype=bool) if level is None else confidence(probabilities, verifier.cut) >= level
    return fails, decided


def oof_kappa_text(verifier: Verifier) -> str:
    """Out-of-fold kappa with its lower bound, item count and the trivial baseline (a constant verdict: 0)."""
    if verifier.oof_kappa is None:
        return f"kappa - (n={verifier.tune_items})"
    low = "" if verifier.oof_kappa_low is None else f", 95% lower bound {verifier.oof_kappa_low:.3f}"
    return f"kappa {verifier.oof_kappa:.3f}{low} (n={verifier.tune_items}; always-pass and majority: 0)"
