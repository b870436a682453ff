"""Selection at scale: the blocked farthest-first makes the same picks as the one-at-a-time
loop, the approximate kNN index finds the exact neighbours when its search is exhaustive, and a
whole selection run through the large-pool paths equals the exact run on a small pool."""

from __future__ import annotations

import numpy as np
import pytest

from allabel.core.config import get_settings
from allabel.select.stages import diversity, farthest, knn, similarity


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("n,d,m,block", [(1500, 16, 200, 8), (3000, 64, 400, 256), (40, 8, 40, 4)])
def test_blocked_farthest_first_equals_one_at_a_time(n, d, m, block):
    X = unit(n, d, n)
    exact = diversity.coreset(X, m)
    got = farthest.coreset_blocked(X, m, block=block)
    assert got[0] == exact[0]
    assert np.allclose(got[1], exact[1], atol=1e-5)
    already = np.array([3, 11, 29])
    excluded = np.array([0, 1, 2])
    assert (farthest.coreset_blocked(X, m // 2, already=already, excluded=excluded, block=block)[0]
            == diversity.coreset(X, m // 2, already=already, excluded=excluded)[0])


def test_approx_knn_is_exact_when_the_search_is_exhaustive():
    X = unit(400, 32, 1)
    exact = similarity.knn_embedding(X, 10, method="exact")
    approx = knn.knn_approx(X, 10, nprobe=10**6)  # every list searched
    assert np.array_equal(approx, exact)  # same neighbours, same order
    assert knn.n_lists(400) == 80 and knn.NPROBE < 80  # the default search is not exhaustive
    # and through the switch: 'approx' forces the index, 'exact' the N x N pass
    assert np.array_equal(similarity.knn_embedding(X, 10, method="exact"), exact)
    assert knn.use_approx(10, "approx") and not knn.use_approx(10**9, "exact")


def test_approx_knn_recall_on_clustered_data():
    rng = np.random.default_rng(2)
    centres = unit(50, 48, 3)
    X = centres[rng.integers(0, 50, 3000)] + rng.normal(scale=0.08, size=(3000, 48)).astype(np.float32)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    exact = similarity.knn_embedding(X, 10, method="exact")
    approx = knn.knn_approx(X, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.95
    assert all(q not in row for q, row in enumerate(approx))


def test_approx_knn_pads_short_rows_with_minus_one_at_the_end():
    assert knn.knn_approx(unit(1, 8), 10).shape == (1, 0)
    got = knn.knn_approx(unit(3, 8, 4), 10)
    assert got.shape == (3, 2)
    assert [sorted(r) for r in got] == [[1, 2], [0, 2], [0, 1]]
    # one list of ~5 sentences searched per query: fewer than 10 found, the rest is -1
    got = knn.knn_approx(unit(400, 32, 5), 10, nprobe=1)
    assert (got == -1).any()
    for q, row in enumerate(got):
        found = row[row >= 0]
        assert q not in found and (row[len(found):] == -1).all()


def test_selection_through_the_large_pool_paths_equals_exact(conn, tmp_path, monkeypatch):
    from allabel.select.run import SelectParams, select
    from tests.select_fixtures import small_corpus

    small_corpus(tmp_path, sizes=(("train", 120),))
    exact = select(SelectParams("bc", "20", "allabel", seed=1), show_progress=False)
    picks = conn.execute("SELECT stage, sentence_id FROM selections WHERE run_id = %s ORDER BY 1, 2",
                         (exact.run_id,)).fetchall()
    conn.commit()
    # every pool counts as large: blocked stage 1, IVF stage 2 (made exhaustive)
    monkeypatch.setenv("ALLABEL_EXACT_MAX_POOL", "0")
    monkeypatch.setattr(knn, "NPROBE", 10**6)
    get_settings.cache_clear()
    conn.execute("DELETE FROM runs")
    conn.commit()
    again = select(SelectParams("bc", "20", "allabel", seed=1), show_progress=False)
    assert conn.execute("SELECT stage, sentence_id FROM selections WHERE run_id = %s ORDER BY 1, 2",
                        (again.run_id,)).fetchall() == picks
    get_settings.cache_clear()
