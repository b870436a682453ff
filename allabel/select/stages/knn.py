"""Stage 2 at scale: approximate k nearest neighbours of every pool sentence.

Stage 2 needs the K nearest neighbours of *every* pool sentence (each one votes for its
neighbours in the sum of ranks), so at scale this is an all-pairs kNN job, not a few queries.
Exact kNN is an N x N pass (46 s at 50k, hours at 1M). Above ``exact_max_pool`` sentences (or
with ``ALLABEL_KNN_METHOD=approx``) an inverted-file (IVF) search answers every sentence:

* spherical k-means (faiss) on a fixed sample gives ``nlist = 4 sqrt(N)`` centroids;
* every sentence's ``NPROBE`` most similar centroids are found by one blockwise product; the
  first is its own list;
* list by list, every sentence that probes the list is compared with all its members by one
  matrix product (BLAS, compute-bound) and the best K per query are merged into faiss's result
  heap — the batched form of faiss's IVF search (``faiss.contrib.big_batch_search``) without
  the index's second copy of the vectors.

Why IVF and these constants (one thread, CPU seconds, replicated bc5cdr vectors; figures in
docs/benchmarks.md): the faiss HNSW graph used before (M16, efConstruction 80, efSearch 48) gave
recall@10 0.996 at 50k for 15.5 CPU s (M16/40/32: 0.979 for 7.5 s) and grows as N log N through
one distance at a time, with cache misses on a graph larger than the cache. IVF spends its time in
a few large matrix products (~60 GFLOP/s on one core here): at 50k 6.2 CPU s for recall 0.961
(0.963 against the exact run's neighbours; selection overlap with exact 0.953), at 250k 52 CPU s
(train 4, probes 11, scan 37) and at 1M 315 CPU s (train 17, probes 53, scan 245), both with
recall 1.000 and 3.1 GB peak RSS at 1M. Its total work grows as N^1.5 (4 sqrt(N) lists).
``NPROBE`` 32 was tuned at 50k for recall@10 >= 0.95 (16: 0.947, 24: 0.961, 32: 0.969, 48: 0.977
with 40 training points per list; 0.961 with the 16 kept here); recall is re-measured at every
size by ``scripts/bench_scale.py``. With ``nprobe >= nlist`` the search is exhaustive and returns
the exact neighbours in the exact path's order (tests).
"""

from __future__ import annotations

import math

import numpy as np

from allabel.core.config import get_settings

NLIST_PER_SQRT_N = 4     # lists = 4 sqrt(N) (faiss's rule of thumb); more lists move work from the
                         # list scans to the centroid pass and need more probes for the same recall
NPROBE = 32              # lists searched per sentence (recall@10 >= 0.95 measured at 50k)
TRAIN_PER_LIST = 16      # k-means sample per list; training costs sample x nlist x iterations
KMEANS_ITER = 8          # spherical k-means iterations (the lists only need to be reasonable)
SEED = 1234              # sample and k-means seed: the same pool gives the same neighbours
CHUNK = 65_536           # rows per product in the centroid pass


def use_approx(n: int, method: str | None = None) -> bool:
    """exact | approx | auto (approx above ``exact_max_pool`` sentences)."""
    s = get_settings()
    method = method or s.knn_method
    if method not in ("auto", "exact", "approx"):
        from allabel.core.errors import ConfigError

        raise ConfigError(f"knn method is auto, exact or approx, not {method!r}")
    return method == "approx" or (method == "auto" and n > s.exact_max_pool)


def n_lists(n: int) -> int:
    return max(1, min(n, round(NLIST_PER_SQRT_N * math.sqrt(n))))


def centroids(X: np.ndarray, nlist: int) -> np.ndarray:
    """Unit-length k-means centroids of a fixed sample of X (all of X when it is small)."""
    import faiss

    n = X.shape[0]
    if nlist >= n:
        return np.ascontiguousarray(X, np.float32)
    take = min(n, TRAIN_PER_LIST * nlist)
    sample = X if take == n else X[np.sort(np.random.default_rng(SEED).choice(n, take, replace=False))]
    km = faiss.Kmeans(X.shape[1], nlist, niter=KMEANS_ITER, spherical=True, seed=SEED,
                      min_points_per_centroid=1, max_points_per_centroid=TRAIN_PER_LIST)
    km.train(np.ascontiguousarray(sample, np.float32))
    return km.centroids


def probes(T, C, nprobe: int) -> np.ndarray:
    """[N, nprobe] int32: each row's most similar centroids, best first (column 0 = its list)."""
    import torch

    n = T.shape[0]
    out = np.empty((n, nprobe), np.int32)
    Ct = torch.from_numpy(C).T.contiguous()
    for a in range(0, n, CHUNK):
        out[a:a + CHUNK] = torch.topk(T[a:a + CHUNK] @ Ct, nprobe, dim=1).indices.numpy()
    return out


def knn_approx(X: np.ndarray, k: int, nprobe: int | None = None,
               phases: dict[str, float] | None = None) -> np.ndarray:
    """[N, k] indices of each row's (approximately) k most similar other rows, best first (ties:
    lower index first); -1 pads a row when fewer than k were found (tiny pools). ``phases``, if
    given, receives the process CPU seconds of each phase (train, probes, scan) for benchmarks."""
    import time

    import faiss
    import torch

    from allabel.core.config import apply_thread_limits

    n = X.shape[0]
    k = min(k, n - 1)
    if k <= 0:
        return np.empty((n, 0), np.int64)
    apply_thread_limits()
    faiss.omp_set_num_threads(get_settings().threads)
    X = np.ascontiguousarray(X, np.float32)  # no copy when it already is
    T = torch.from_numpy(X)
    phases = {} if phases is None else phases
    t = time.process_time()
    C = centroids(X, n_lists(n))
    nlist = C.shape[0]
    phases["train"], t = time.process_time() - t, time.process_time()
    width = min(nprobe or NPROBE, nlist)
    assign = probes(T, C, width)
    phases["probes"], t = time.process_time() - t, time.process_time()
    members = np.argsort(assign[:, 0], kind="stable")
    member_lims = np.searchsorted(assign[:, 0], np.arange(nlist + 1), sorter=members)
    flat = assign.ravel()
    del assign
    queries = np.argsort(flat, kind="stable")  # positions in the flattened [N, nprobe] array
    query_lims = np.searchsorted(flat, np.arange(nlist + 1), sorter=queries)
    del flat
    queries //= width  # -> row numbers
    heap = faiss.ResultHeap(n, k, keep_max=True)
    for lst in range(nlist):
        ids = members[member_lims[lst]:member_lims[lst + 1]]
        qs = queries[query_lims[lst]:query_lims[lst + 1]]
        if len(ids) == 0 or len(qs) == 0:
            continue
        ids_t, qs_t = torch.from_numpy(ids), torch.from_numpy(qs)
        S = T[qs_t] @ T[ids_t].T
        S[qs_t[:, None] == ids_t[None, :]] = -torch.inf  # never your own neighbour
        D, J = torch.topk(S, min(k, len(ids)), dim=1)
        heap.add_result_subset(qs, np.ascontiguousarray(D.numpy()), np.ascontiguousarray(ids[J.numpy()]))
    heap.finalize()
    phases["scan"] = time.process_time() - t
    D, out = heap.D, heap.I
    out[(D < -1e30) | (out < 0)] = -1  # empty slots, or a query's own row (-inf)
    D[out < 0] = -np.inf
    # best first, equal similarities by lower index (the exact path's order); -1 pads last
    return np.take_along_axis(out, np.lexsort((np.where(out < 0, n, out), -D), axis=1), axis=1)

