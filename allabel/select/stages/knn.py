"""Stage 2 at scale: approximate k nearest neighbours of every pool sentence.

Exact kNN is an N x N pass (46 s at 50k, hours at 1M). Above ``exact_max_pool`` sentences
(or with ``ALLABEL_KNN_METHOD=approx``) an HNSW graph index (faiss-cpu, inner product on unit
vectors = cosine) answers every sentence's query instead. The library was chosen by measuring
(``scripts/bench_scale.py --knn-libs``; figures in docs/benchmarks.md): faiss-cpu, hnswlib,
usearch, and pgvector's HNSW index that the database already keeps (one SQL query per sentence,
far slower for an all-pairs job). faiss ships wheels (hnswlib builds from source) and was the
fastest at the recall we need.
"""

from __future__ import annotations

import numpy as np

from allabel.config import get_settings

HNSW_M = 16            # graph degree
EF_CONSTRUCTION = 80   # build-time beam
EF_SEARCH = 48         # query-time beam (recall@10 >= 0.95 measured at 50k)


def use_approx(n: int, method: str | None = None) -> bool:
    """exact | approx | auto (approx above ``exact_max_pool`` sentences)."""
    s = get_settings()
    method = method or s.knn_method
    if method not in ("auto", "exact", "approx"):
        from allabel.errors import ConfigError

        raise ConfigError(f"knn method is auto, exact or approx, not {method!r}")
    return method == "approx" or (method == "auto" and n > s.exact_max_pool)


def knn_approx(X: np.ndarray, k: int, ef_search: int = EF_SEARCH) -> np.ndarray:
    """[N, k] indices of each row's (approximately) k most similar other rows, best first;
    -1 pads a row when fewer than k were found (tiny pools)."""
    import faiss

    from allabel.config import apply_thread_limits

    n = X.shape[0]
    k = min(k, n - 1)
    if k <= 0:
        return np.empty((n, 0), np.int64)
    apply_thread_limits()
    faiss.omp_set_num_threads(get_settings().threads)
    X = np.ascontiguousarray(X, np.float32)
    index = faiss.IndexHNSWFlat(X.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(X)
    index.hnsw.efSearch = max(ef_search, k + 1)
    out = np.full((n, k), -1, np.int64)
    for a in range(0, n, 65_536):
        _, found = index.search(X[a:a + 65_536], k + 1)
        ok = (found >= 0) & (found != np.arange(a, a + len(found))[:, None])  # not yourself
        order = np.argsort(~ok, axis=1, kind="stable")[:, :k]  # the valid ones, in rank order
        rows = np.take_along_axis(found, order, axis=1)
        rows[~np.take_along_axis(ok, order, axis=1)] = -1
        out[a:a + len(found)] = rows
    return out
