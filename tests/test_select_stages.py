"""Each stage picks what its definition says, on small hand-built point sets; budget and ratio
accounting; uncertainty ranking."""

from __future__ import annotations

import numpy as np
import pytest

from allabel.core.errors import ConfigError
from allabel.select.budget import parse_budget, parse_order, parse_ratio, stage_sizes
from allabel.select.stages.diversity import coreset, mean_similarity_to_others
from allabel.select.stages.similarity import knn_embedding, sum_of_ranks, top_scored
from allabel.select.stages.uncertainty import most_uncertain, sample_candidates
from allabel.select.strategies import ABLATIONS, STRATEGIES, canonical, make_strategy


def unit(*angles_deg):
    a = np.radians(angles_deg)
    return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


def test_mean_similarity_identity_matches_the_matrix():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    S = X @ X.T
    expected = (S.sum(axis=1) - np.diag(S)) / 49
    assert np.allclose(mean_similarity_to_others(X), expected, atol=1e-6)


def test_coreset_seed_and_farthest_first_order():
    # a tight cluster around 0 deg, points at 90, 180 and 135 deg
    X = unit(0, 5, 10, 90, 180, 135)
    # seed: lowest mean similarity to the others -> 180 deg (index 4)
    picks, scores = coreset(X, 4)
    assert picks[0] == 4
    # farthest from {180}: the cluster's far edge at 10 deg? max-sim to 180 is cos(170) for 10,
    # cos(175) for 5, cos(180) = -1 for 0 -> index 0 (0 deg) is farthest
    assert picks[1] == 0
    # farthest from {180, 0}: 90 deg (max sim 0) beats 135 (cos 45) and 5/10 deg
    assert picks[2] == 3
    assert scores[2] == pytest.approx(0.0, abs=1e-6)
    # then 135 deg (max sim cos 45 ~ 0.707) beats 10 deg (cos 10 ~ 0.985)
    assert picks[3] == 5


def test_coreset_continues_from_earlier_picks_and_skips_them():
    X = unit(0, 5, 10, 90, 180, 135)
    picks, _ = coreset(X, 2, already=np.array([4, 0]))
    assert picks == [3, 5]


def test_knn_and_sum_of_ranks_find_the_hub():
    # point 2 (at 45 deg) is everybody's nearest neighbour
    X = unit(0, 90, 45, 20, 70)
    neigh = knn_embedding(X, 2)
    assert neigh.shape == (5, 2)
    assert all(i not in row for i, row in enumerate(neigh))  # never its own neighbour
    assert list(neigh[0]) == [3, 2]
    score = sum_of_ranks(neigh, 5, 2)
    # credit: rank 1 -> 2, rank 2 -> 1
    expected = np.zeros(5)
    for row in neigh:
        expected[row[0]] += 2
        expected[row[1]] += 1
    assert np.array_equal(score, expected)
    picks, _ = top_scored(score, 1, np.zeros(5, bool))
    assert picks == [int(np.argmax(expected))] == [2]
    blocked = np.zeros(5, bool)
    blocked[2] = True
    assert 2 not in top_scored(score, 2, blocked)[0]


def test_knn_blockwise_equals_full_sort():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    got = knn_embedding(X, 5, block=64)
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    assert np.array_equal(got, np.argsort(-S, axis=1, kind="stable")[:, :5])


def test_knn_ties_go_to_the_lower_index():
    # rows 1..4 are the same point: for row 0 they tie, and the k chosen must be the lowest ids
    X = unit(0, 30, 30, 30, 30, 90)
    got = knn_embedding(X, 2)
    assert list(got[0]) == [1, 2]
    assert list(got[4]) == [1, 2]  # its twins, lowest first, never itself
    assert list(got[5]) == [1, 2]


def test_uncertainty_ranks_highest_perplexity_first_unknown_last():
    ids, scores = most_uncertain({1: 1.2, 2: None, 3: 3.5, 4: 2.0}, 3)
    assert ids == [3, 4, 1] and scores == [3.5, 2.0, 1.2]
    pool = list(range(100))
    a = sample_candidates(pool, {0, 1}, 10, seed=5)
    assert a == sample_candidates(pool, {0, 1}, 10, seed=5) and 0 not in a and len(a) == 10
    assert a != sample_candidates(pool, {0, 1}, 10, seed=6)


@pytest.mark.parametrize("m,sizes", [(5, [1, 3, 1]), (7, [2, 4, 1]), (10, [2, 6, 2]),
                                     (11, [2, 7, 2]), (1, [0, 1, 0]), (2, [1, 1, 0]),
                                     (3, [1, 2, 0]), (13, [3, 8, 2])])
def test_stage_sizes_add_up_to_the_budget(m, sizes):
    plan = stage_sizes(m, [1, 3, 1], ["diversity", "similarity", "uncertainty"])
    assert [n for _, n in plan] == sizes and sum(sizes) == m


def test_order_and_ratio_and_budget_parsing():
    assert parse_order("sdu") == ["similarity", "diversity", "uncertainty"]
    plan = stage_sizes(10, parse_ratio("1:1:0"), parse_order("SDU"))
    assert plan == [("similarity", 5), ("diversity", 5), ("uncertainty", 0)]
    assert parse_budget("5%", 9141) == 457 and parse_budget("0.01%", 100) == 1
    assert parse_budget("120", 9141) == 120
    for bad in ("0", "-3", "abc", "150%", "10001"):
        with pytest.raises(ConfigError):
            parse_budget(bad, 10000)
    with pytest.raises(ConfigError):
        parse_order("DSS")
    assert make_strategy("allabel", [1, 3, 1], parse_order("DSU")).plan(5, 100) == [
        ("diversity", 1), ("similarity", 3), ("uncertainty", 1)]
    assert make_strategy("coreset", [1, 3, 1], []).plan(7, 100) == [("diversity", 7)]


def test_ablation_names_are_parsed_in_one_place():
    dsu = parse_order("DSU")
    assert canonical(" Allabel:ds ") == "allabel:DS" and canonical("RANDOM") == "random"
    # pairs keep the ratio of the stages present: 1:3:1 -> D:S 1:3, D:U 1:1, S:U 3:1
    assert make_strategy("allabel:DS", [1, 3, 1], dsu).plan(8, 100) == [
        ("diversity", 2), ("similarity", 6)]
    assert make_strategy("allabel:du", [1, 3, 1], dsu).plan(7, 100) == [
        ("diversity", 4), ("uncertainty", 3)]  # 3.5 each: the tie goes to the earlier stage
    assert make_strategy("allabel:US", [1, 3, 1], dsu).plan(8, 100) == [
        ("uncertainty", 2), ("similarity", 6)]
    # other orders: the letters replace --order, the ratio stays
    assert make_strategy("allabel:UDS", [1, 3, 1], dsu).plan(10, 100) == [
        ("uncertainty", 2), ("diversity", 2), ("similarity", 6)]
    assert make_strategy("allabel:D", [1, 3, 1], dsu).plan(5, 100) == [("diversity", 5)]
    assert make_strategy("allabel:DS", [1, 3, 1], dsu).name == "allabel:DS"
    # method variants ride along: checked, lower-cased, kept
    assert canonical("Allabel:ds+LONG") == "allabel:DS+long" and canonical("allabel+total") == "allabel+total"
    with pytest.raises(ConfigError, match=r"\+wide"):
        canonical("allabel:DS+wide")
    for bad in ("allabel:", "allabel:DD", "allabel:DX", "allabel:DSUD", "random:DS", "bogus"):
        with pytest.raises(ConfigError, match="strategy"):
            canonical(bad)
    with pytest.raises(ConfigError, match="no share"):
        make_strategy("allabel:SU", [1, 0, 0], dsu).plan(5, 100)
    # every name the --ablations shortcut adds is valid and already canonical
    assert all(canonical(a) == a for a in ABLATIONS + STRATEGIES)
    assert len(set(ABLATIONS)) == 11
