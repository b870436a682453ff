"""Stage 1, diversity: warm-start core-set (k-center greedy) on unit-length vectors.

Seed: the sentence whose *average* cosine similarity to all others is lowest, computed exactly
without an N x N matrix by the identity mean_j!=i x_i.x_j = x_i.(sum_j x_j - x_i) / (N - 1).
Then farthest-first: repeatedly add the unselected sentence whose *highest* similarity to anything
already selected is lowest. ``already`` seeds the max-similarity state (sentences chosen by an
earlier stage), in which case no seed step is needed. Above ``exact_max_pool`` sentences the
same picks are made in blocks (farthest.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from allabel.select.stages.base import Picks, Stage, StageContext


def mean_similarity_to_others(X: np.ndarray) -> np.ndarray:
    n = X.shape[0]
    if n < 2:
        return np.zeros(n, np.float64)
    total = X.sum(axis=0, dtype=np.float64)
    self_sim = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    return (X.astype(np.float64) @ total - self_sim) / (n - 1)


def seed_pick(mean: np.ndarray, blocked: np.ndarray) -> tuple[int, float]:
    """The warm start: the selectable sentence with the lowest ``mean`` similarity to all others."""
    mean = np.where(blocked, np.inf, mean)
    seed = int(np.argmin(mean))
    return seed, float(mean[seed])


def start(X: np.ndarray, m: int, already: np.ndarray | None, excluded: np.ndarray | None,
          add: Callable[[np.ndarray], None],
          mean: Callable[[np.ndarray], np.ndarray] = mean_similarity_to_others,
          ) -> tuple[np.ndarray, list[int], list[float]]:
    """Where both farthest-first passes (exact here, blocked in farthest.py) begin: the blocked
    mask, and either the earlier stages' picks folded into the max-similarity state by ``add``
    or, with none, the warm-start seed (picked, scored and folded in)."""
    blocked = np.zeros(X.shape[0], bool)
    if excluded is not None:
        blocked[excluded] = True
    picks: list[int] = []
    scores: list[float] = []
    if already is not None and len(already):
        add(already)
        blocked[already] = True
    elif m > 0:
        seed, score = seed_pick(mean(X), blocked)
        picks.append(seed)
        scores.append(score)
        blocked[seed] = True
        add(np.array([seed], np.int64))
    return blocked, picks, scores


def coreset(X: np.ndarray, m: int, already: np.ndarray | None = None,
            excluded: np.ndarray | None = None) -> tuple[list[int], list[float]]:
    """Indices (into X) of m farthest-first picks and the score that chose each: the seed's mean
    similarity, then each pick's highest similarity to the selected set (lower = more novel)."""
    max_sim = np.full(X.shape[0], -np.inf, np.float32)

    def add(ids: np.ndarray) -> None:
        for i in ids:
            np.maximum(max_sim, X @ X[i], out=max_sim)

    blocked, picks, scores = start(X, m, already, excluded, add)
    while len(picks) < m:
        cand = np.where(blocked, np.inf, max_sim)
        i = int(np.argmin(cand))
        if not np.isfinite(cand[i]):
            break  # nothing selectable is left
        picks.append(i)
        scores.append(float(max_sim[i]))
        blocked[i] = True
        np.maximum(max_sim, X @ X[i], out=max_sim)
    return picks, scores


class Diversity(Stage):
    """Stage 1 (D): farthest-first on the pool's embeddings, continuing from earlier picks."""

    name = "diversity"
    letter = "D"
    reads_vectors = True

    def pick(self, ctx: StageContext, n: int) -> Picks:
        from allabel.core.config import get_settings
        from allabel.select.stages import farthest

        X = ctx.vectors()
        already = ctx.picked_order
        # same picks; above the exact size the N vectors are read once per block of picks
        run = farthest.coreset_blocked if len(ctx.pool) > get_settings().exact_max_pool else coreset
        idx, scores = run(X, n, already=already if len(already) else None,
                          excluded=np.flatnonzero(ctx.blocked()))
        return [ctx.pool[i] for i in idx], list(scores)
