"""Stage 2, similarity: the sentences most "retrievable" for the rest of the pool.

For every pool sentence q take its top-K most similar *other* pool sentences; the neighbour at
rank r (1 = most similar) earns credit K - r + 1. A candidate's score is the sum of its credit
over all q ("sum of ranks"). The best-scoring sentences not yet selected are taken (ties: lower
index first). kNN is exact: blockwise matrix products over unit vectors (embedding similarity),
or BM25 restricted to the pool (``--similarity bm25``).
"""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg.rows import dict_row

from allabel.core.errors import ConfigError
from allabel.retrieval import bm25
from allabel.select.entity_prior import entity_weighted, pool_priors
from allabel.select.stages import knn
from allabel.select.stages.base import Picks, Q, Stage, StageContext

KNN_SOURCES = ("embedding", "bm25")  # --similarity


def knn_embedding(X: np.ndarray, k: int, block: int = 2048, method: str | None = None) -> np.ndarray:
    """[N, k] indices of each row's k most similar other rows, most similar first (exact).

    Blockwise products in torch: its CPU matmul was 1.75x faster than numpy's OpenBLAS here, and
    this N x N pass is nearly all of stage 2's time at N = 50,000. Large pools go to the
    approximate index of ``knn.py`` (``method`` / ``ALLABEL_KNN_METHOD``, see there).
    """
    import torch  # deferred: torch is heavy (seconds to import)

    if knn.use_approx(X.shape[0], method):
        return knn.knn_approx(X, k)

    n = X.shape[0]
    k = min(k, n - 1)
    out = np.empty((n, k), np.int64)
    T = torch.from_numpy(np.ascontiguousarray(X, np.float32))
    for a in range(0, n, block):
        b = min(a + block, n)
        S = T[a:b] @ T.T
        S[torch.arange(b - a), torch.arange(a, b)] = -torch.inf  # never your own neighbour
        out[a:b] = top_k_rows(S, k)
    return out


def top_k_rows(S, k: int) -> np.ndarray:
    """Column indices of each row of the torch matrix ``S``'s k largest values, largest first,
    ties by lower index — exactly what a stable full sort gives.

    ``torch.topk`` is about 5x faster than ``np.argpartition`` but leaves unspecified which of
    several equal values it returns. Asking for k + 1 shows where that matters: a row whose k-th
    and (k+1)-th values are equal is redone with a stable sort.
    """
    import torch  # deferred: torch is heavy (seconds to import)

    rows, cols = S.shape
    if k == 0:
        return np.empty((rows, 0), np.int64)
    if k + 1 > cols:
        return np.argsort(-S.numpy(), axis=1, kind="stable")[:, :k]
    vals, idx = torch.topk(S, k + 1, dim=1)
    tied = (vals[:, k - 1] == vals[:, k]).numpy()
    vals, idx = vals[:, :k].numpy(), idx[:, :k].numpy()
    out = np.take_along_axis(idx, np.lexsort((idx, -vals), axis=1), axis=1)
    for r in np.flatnonzero(tied):
        out[r] = np.argsort(-S[r].numpy(), kind="stable")[:k]
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


def knn_bm25(conn: psycopg.Connection, dataset_id: int, pool: list[int], k: int) -> list[list[int]]:
    """Each pool sentence's k BM25 nearest pool sentences (BM25 statistics over the pool), with
    the exact in-process pool index: one query per pool sentence."""

    index = {sid: i for i, sid in enumerate(pool)}
    with conn.cursor(row_factory=dict_row) as cur:
        texts = {r["id"]: r["text"] for r in cur.execute(Q.texts, {"ids": pool})}
    bm = bm25.PoolIndex(conn, dataset_id, pool)
    out = []
    for a in range(0, len(pool), 1000):
        chunk = pool[a:a + 1000]
        for sid, lx in zip(chunk, bm.query_lexemes(conn, [texts[s] for s in chunk]), strict=True):
            out.append([index[h] for h, _ in bm.search(lx, k, exclude=sid)])
    return out


def check_source(source: str) -> None:
    if source not in KNN_SOURCES:
        raise ConfigError(f"--similarity is {' or '.join(KNN_SOURCES)}, not {source!r}")


class Similarity(Stage):
    """Stage 2 (S): the sentences most often among the others' K nearest neighbours."""

    name = "similarity"
    letter = "S"
    reads_vectors = True  # with --similarity embedding (the default)

    def pick(self, ctx: StageContext, n: int) -> Picks:
        p = ctx.params
        check_source(p.similarity)
        if p.similarity == "embedding":
            neigh = knn_embedding(ctx.vectors(), p.knn)
        else:
            neigh = knn_bm25(ctx.conn, ctx.dataset_id, ctx.pool, p.knn)
        score = sum_of_ranks(neigh, len(ctx.pool), p.knn)
        if getattr(p, "entity_prior", 0.0) > 0:  # +ent: retrievable and likely to name an entity
            score = entity_weighted(score, pool_priors(ctx.conn, ctx.dataset_id, ctx.vectors())[1])
        idx, scores = top_scored(score, n, ctx.blocked())
        return [ctx.pool[i] for i in idx], list(scores)
