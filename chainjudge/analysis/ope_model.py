"""The reward model behind DM, DR and Switch-DR: cross-fitted, so no row is predicted by a model that saw it.

q(x, a), the expected reward of action a in context x, is learned by scikit-learn from the logged rows
(context features plus the action, one-hot) in K folds that keep groups (users) together; each row's
q(x, logged a) and its expectation under the target policy, sum over a of target(a | x) q(x, a), come
from the model fitted on the other folds (Chernozhukov et al.'s cross-fitting: DR stays unbiased when the
model is learned from the same logs).  Binary rewards (clicks, conversions) use a classifier's
probability; other rewards a regressor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MODELS = ("boosting", "logistic")


def _design(x: np.ndarray, actions: np.ndarray, n_actions: int) -> np.ndarray:
    onehot = np.zeros((len(actions), n_actions), dtype=np.float32)
    onehot[np.arange(len(actions)), actions] = 1.0
    return np.hstack([x.astype(np.float32, copy=False), onehot])


def _model(kind: str, binary: bool, seed: int):
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression, Ridge

        return LogisticRegression(max_iter=500, C=1.0) if binary else Ridge(alpha=1.0)
    if kind == "boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if binary else HistGradientBoostingRegressor
        return cls(max_iter=60, learning_rate=0.1, max_leaf_nodes=15, random_state=seed)
    raise ValueError(f"reward model {kind!r}: choose one of {', '.join(MODELS)}")


def _predict(model, design: np.ndarray, binary: bool) -> np.ndarray:
    return model.predict_proba(design)[:, 1] if binary else model.predict(design)


def cross_fitted_rewards(
    x: np.ndarray,
    actions: np.ndarray,
    reward: np.ndarray,
    groups: np.ndarray,
    target_probs: np.ndarray,
    kind: str = "boosting",
    folds: int = 2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(q(x, logged a), sum_a target(a|x) q(x, a)) per row, each from a model fitted on the other folds.

    x: contexts (rows x features, numbers); actions: logged action index per row (0..A-1); target_probs:
    the target policy's probability of every action per row (rows x A)."""
    n, n_actions = target_probs.shape
    if len(x) != n or len(actions) != n or len(reward) != n:
        raise ValueError("contexts, actions, rewards and target probabilities must have one row per logged decision")
    binary = bool(np.isin(np.unique(reward), [0, 1]).all())
    _, group_index = np.unique(groups, return_inverse=True)
    fold_of_group = np.random.default_rng(seed).integers(0, folds, group_index.max() + 1)
    fold = fold_of_group[group_index]
    q_logged = np.zeros(n)
    q_target = np.zeros(n)
    for k in range(folds):
        train, held = fold != k, fold == k
        if not held.any():
            continue
        if not train.any() or (binary and len(np.unique(reward[train])) < 2):
            constant = float(reward[train].mean()) if train.any() else float(reward.mean())
            q_logged[held], q_target[held] = constant, constant
            continue
        model = _model(kind, binary, seed).fit(_design(x[train], actions[train], n_actions), reward[train])
        q_logged[held] = _predict(model, _design(x[held], actions[held], n_actions), binary)
        q_target[held] = _expected_under_target(model, x[held], target_probs[held], binary)
    return q_logged, q_target


def _expected_under_target(model: Any, rows: np.ndarray, target_probs: np.ndarray, binary: bool) -> np.ndarray:
    """sum_a target(a|x) q(x, a) per row (actions the target never takes there are not predicted)."""
    n_actions = target_probs.shape[1]
    expected = np.zeros(len(rows))
    for a in range(n_actions):
        p = target_probs[:, a]
        if p.any():
            expected += p * _predict(model, _design(rows, np.full(len(rows), a), n_actions), binary)
    return expected
