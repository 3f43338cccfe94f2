"""Simulated CEP logs with a known response model, so the true value of any policy is computable.

Users have a segment (4 LTV bands), a recency (days since active) and a market; the logging policy picks
one of four actions (no message, push, email, SMS) by a softmax over a noisy score mixed with uniform
exploration, and records its propensity; the response (a conversion) is Bernoulli with a probability that
depends on user and action.  `true_value(policy)` is the exact expectation of a policy's conversion rate
over the user distribution (computed on a large independent draw of users), which the off-policy
estimators are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIONS = ("none", "push", "email", "sms")


@dataclass(frozen=True)
class SimLogs:
    x: np.ndarray  # users x 3: segment (0-3), recency (days / 30), market (0-2)
    actions: np.ndarray  # logged action index
    propensity: np.ndarray  # logging probability of the logged action
    logging_probs: np.ndarray  # users x actions
    reward: np.ndarray  # 0/1 conversions
    users: np.ndarray  # user ids (one row per user here)


def users(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.column_stack([rng.integers(0, 4, n), rng.exponential(1.0, n), rng.integers(0, 3, n)]).astype(float)


def response(x: np.ndarray) -> np.ndarray:
    """users x actions: the true conversion probability of each action."""
    segment, recency, market = x[:, 0], x[:, 1], x[:, 2]
    base = -3.0 + 0.35 * segment - 0.4 * recency
    lift = np.column_stack([np.zeros(len(x)), 0.6 - 0.3 * recency, 0.3 + 0.2 * segment, 0.9 - 0.5 * (market == 2)])
    return 1.0 / (1.0 + np.exp(-(base[:, None] + lift)))


def logging_policy(x: np.ndarray, epsilon: float = 0.2) -> np.ndarray:
    scores = np.column_stack([np.zeros(len(x)), 0.5 - 0.2 * x[:, 1], 0.2 * x[:, 0], 0.3 * np.ones(len(x))])
    soft = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    return (1 - epsilon) * soft + epsilon / len(ACTIONS)


def agent_policy(x: np.ndarray) -> np.ndarray:
    """A target policy: email for high segments, push for recently active users, SMS otherwise (deterministic)."""
    choice = np.where(x[:, 0] >= 2, 2, np.where(x[:, 1] < 0.5, 1, 3))
    probs = np.zeros((len(x), len(ACTIONS)))
    probs[np.arange(len(x)), choice] = 1.0
    return probs


def simulate(n: int, seed: int, epsilon: float = 0.2) -> SimLogs:
    rng = np.random.default_rng(seed)
    x = users(n, rng)
    probs = logging_policy(x, epsilon)
    actions = (probs.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    mu = response(x)[np.arange(n), actions]
    return SimLogs(
        x=x,
        actions=actions,
        propensity=probs[np.arange(n), actions],
        logging_probs=probs,
        reward=(rng.uniform(size=n) < mu).astype(float),
        users=np.arange(n),
    )


def true_value(policy, n: int = 400_000, seed: int = 12345) -> float:
    """E over users of sum_a policy(a | x) * P(conversion | x, a)."""
    x = users(n, np.random.default_rng(seed))
    return float((policy(x) * response(x)).sum(axis=1).mean())
