"""Target policies that are not an agent's recorded decisions: their action distributions, computed.

Bernoulli Thompson sampling with a Beta prior per action, showing a slate of K actions: the probability
of each action at each slot is what the policy's own sampling gives (draw every action's click rate from
its Beta, rank, fill the slate top down), estimated by Monte Carlo as the Open Bandit Pipeline does for
the production policy of the Open Bandit Dataset (`BernoulliTS.compute_batch_action_dist`, with the
prior used in production).  The result is context-free: one distribution per slot.
"""

from __future__ import annotations

import numpy as np


def thompson_slate_probabilities(
    alpha: np.ndarray, beta: np.ndarray, slots: int, samples: int = 100_000, seed: int = 0, chunk: int = 10_000
) -> np.ndarray:
    """actions x slots: P(action shown at slot) under Thompson sampling from Beta(alpha, beta)."""
    alpha, beta = np.asarray(alpha, float), np.asarray(beta, float)
    if alpha.shape != beta.shape or alpha.ndim != 1 or np.any(alpha <= 0) or np.any(beta <= 0):
        raise ValueError("alpha and beta must be equal-length lists of positive numbers, one per action")
    if not 1 <= slots <= len(alpha):
        raise ValueError(f"slots must be between 1 and the number of actions ({len(alpha)})")
    rng = np.random.default_rng(seed)
    counts = np.zeros((len(alpha), slots))
    done = 0
    while done < samples:
        size = min(chunk, samples - done)
        theta = rng.beta(alpha, beta, size=(size, len(alpha)))
        top = np.argsort(-theta, axis=1)[:, :slots]
        for slot in range(slots):
            counts[:, slot] += np.bincount(top[:, slot], minlength=len(alpha))
        done += size
    return counts / samples
