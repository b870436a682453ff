"""Stage 2, similarity: the sentences most "retrievable" for the rest of the pool.

For every pool sentence q take its top-K most similar *other* pool sentences; the neighbour at
rank r (1 = most similar) earns credit K - r + 1. A candidate's score is the sum of its credit
over all q ("sum of ranks"). The best-scoring sentences not yet selected are taken (ties: lower
index first). kNN is exact: blockwise matrix products over unit vectors (embedding similarity),
or BM25 restricted to the pool (``--similarity bm25``, see run.py).
"""

from __future__ import annotations

import numpy as np


def knn_embedding(X: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    """[N, k] indices of each row's k most similar other rows, most similar first (exact)."""
    n = X.shape[0]
    k = min(k, n - 1)
    out = np.empty((n, k), np.int64)
    for a in range(0, n, block):
        b = min(a + block, n)
        S = X[a:b] @ X.T
        S[np.arange(b - a), np.arange(a, b)] = -np.inf  # never your own neighbour
        part = np.argpartition(-S, k - 1, axis=1)[:, :k] if k < n else np.argsort(-S, axis=1)
        vals = np.take_along_axis(S, part, axis=1)
        order = np.lexsort((part, -vals), axis=1)
        out[a:b] = np.take_along_axis(part, order, axis=1)
    return out


def sum_of_ranks(neighbours: np.ndarray | list[list[int]], n: int, k: int) -> np.ndarray:
    """score[j] = sum over queries of (k - rank + 1) where j is the rank-th neighbour."""
    score = np.zeros(n, np.float64)
    for row in neighbours:
        for r, j in enumerate(row):
            if j >= 0:
                score[j] += k - r
    return score


def top_scored(score: np.ndarray, m: int, blocked: np.ndarray) -> tuple[list[int], list[float]]:
    idx = np.where(~blocked)[0]
    order = idx[np.lexsort((idx, -score[idx]))][:m]
    return [int(i) for i in order], [float(score[i]) for i in order]
