"""Stage 1 at scale: farthest-first (k-center greedy) with blocked updates.

``diversity.coreset`` updates every sentence's highest similarity to the selected set after each
pick: m matrix-vector products over all N vectors, memory-bound (1.5 GB streamed per pick at
N = 1M). Here picks are made in blocks from a shortlist and the N vectors are read once per block
by one matrix product (compute-bound, ~100x fewer passes), with the same picks:

* the shortlist holds the C unselected sentences of lowest max-similarity; every sentence outside
  it has max-similarity >= tau, the largest value inside it;
* the first pick of a block is the exact argmin over all sentences (lowest index on ties);
* further picks are made inside the shortlist, whose max-similarities are updated with each pick
  (a C x d product), as long as the best one is strictly below tau: a sentence outside the
  shortlist scores at least tau, so it could not have been picked instead;
* then all N max-similarities are updated with the block's picks at once.

Numerically the products are summed in a different order than one matrix-vector product per
pick, so an exact tie broken by the last bit of a float could go the other way; otherwise the
picks and their scores are those of ``diversity.coreset``.
"""

from __future__ import annotations

import numpy as np

from allabel.select.stages.diversity import start

CHUNK = 65_536  # rows per product: bounds the N x block similarity matrix held at once


def mean_similarity_to_others(X: np.ndarray) -> np.ndarray:
    """As ``diversity.mean_similarity_to_others``, in row chunks (no float64 copy of X)."""
    n = X.shape[0]
    if n < 2:
        return np.zeros(n, np.float64)
    total = X.sum(axis=0, dtype=np.float64)
    out = np.empty(n, np.float64)
    for a in range(0, n, CHUNK):
        B = X[a:a + CHUNK].astype(np.float64)
        out[a:a + CHUNK] = (B @ total - np.einsum("ij,ij->i", B, B)) / (n - 1)
    return out


class _MaxSim:
    """Each sentence's highest similarity to the selected set, updated with a block of picks by
    one pass over the N vectors."""

    def __init__(self, X: np.ndarray):
        import torch

        self.torch = torch
        self.T = torch.from_numpy(np.ascontiguousarray(X, np.float32))
        self.n = X.shape[0]
        self.values = np.full(self.n, -np.inf, np.float32)

    def add(self, idx: list[int] | np.ndarray) -> None:
        if len(idx) == 0:
            return
        P = self.T[self.torch.as_tensor(np.asarray(idx, np.int64))].T.contiguous()
        for a in range(0, self.n, CHUNK):
            s = (self.T[a:a + CHUNK] @ P).max(dim=1).values.numpy()
            np.maximum(self.values[a:a + CHUNK], s, out=self.values[a:a + CHUNK])


def _shortlist(vals: np.ndarray, blocked: np.ndarray, first: int, c: int) -> tuple[np.ndarray, float]:
    """The ``c`` selectable sentences of lowest max-similarity (sorted, always holding the exact
    first pick even on boundary ties) and tau, the largest value among them."""
    free = len(blocked) - int(blocked.sum())
    if c < free:
        sl = np.argpartition(vals, c - 1)[:c]
        tau = float(vals[sl].max())
    else:
        sl = np.flatnonzero(~blocked)
        tau = np.inf
    return np.union1d(sl, [first]), tau


def _block(state: _MaxSim, sl: np.ndarray, tau: float, first: int, room: int,
           picks: list[int], scores: list[float]) -> list[int]:
    """Up to ``room`` picks inside the shortlist ``sl``, starting with ``first``, while the best
    one is strictly below ``tau`` (nothing outside the shortlist could have been picked)."""
    local = state.values[sl].copy()
    local_free = np.ones(len(sl), bool)
    Xs = state.T[state.torch.as_tensor(sl)]
    new: list[int] = []
    j = int(np.searchsorted(sl, first))
    while True:
        i = int(sl[j])
        picks.append(i)
        scores.append(float(local[j]))
        local_free[j] = False
        new.append(i)
        if len(new) >= room:
            return new
        np.maximum(local, (Xs @ state.T[i]).numpy(), out=local)
        cand = np.where(local_free, local, np.inf)
        j = int(np.argmin(cand))  # sl is sorted: the first minimum has the lowest index
        if not cand[j] < tau:
            return new


def coreset_blocked(X: np.ndarray, m: int, already: np.ndarray | None = None,
                    excluded: np.ndarray | None = None, block: int = 256,
                    shortlist: int = 4) -> tuple[list[int], list[float]]:
    """Same contract as ``diversity.coreset``: m farthest-first picks and the score of each."""
    from allabel.core.config import apply_thread_limits

    apply_thread_limits()  # 2 threads were 10-300x slower than 1 on 2-core machines
    state = _MaxSim(X)

    def add(ids: np.ndarray) -> None:
        for a in range(0, len(ids), block):
            state.add(ids[a:a + block])

    blocked, picks, scores = start(X, m, already, excluded, add, mean_similarity_to_others)
    while len(picks) < m:
        vals = np.where(blocked, np.inf, state.values)
        first = int(np.argmin(vals))
        if not np.isfinite(vals[first]):
            break  # nothing selectable is left
        sl, tau = _shortlist(vals, blocked, first, block * shortlist)
        new = _block(state, sl, tau, first, min(block, m - len(picks)), picks, scores)
        blocked[new] = True
        state.add(new)
    return picks, scores
