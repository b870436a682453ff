"""Paired bootstrap intervals on hand-made per-sentence counts, and per-sentence counts that add
up to the micro row of the DuckDB evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from allabel.experiments.evaluate import compute, per_sentence
from allabel.experiments.stats import f1_interval, micro_f1, paired_difference
from tests.test_evaluate import tables


def system(right: np.ndarray, n: int = 200) -> np.ndarray:
    """(n, 3) counts: one gold mention per sentence, found (tp) where ``right`` else missed (fn)
    with a spurious prediction (fp)."""
    c = np.zeros((n, 3), np.int64)
    c[right, 0] = 1
    c[~right, 1] = 1
    c[~right, 2] = 1
    return c


def mask(n: int, idx) -> np.ndarray:
    m = np.zeros(n, bool)
    m[idx] = True
    return m


def test_micro_f1_from_counts():
    assert micro_f1(np.array([3, 1, 2])) == pytest.approx(6 / 9)
    assert micro_f1(np.array([0, 0, 0])) == 0.0  # nothing to score: 0, not a division error
    assert micro_f1(np.array([[1, 0, 0], [0, 1, 1]])).tolist() == [1.0, 0.0]


def test_identical_systems_interval_contains_zero():
    a = system(mask(200, np.arange(0, 200, 2)))[None]
    d = paired_difference(a, a.copy(), resamples=2000, seed=1)
    assert (d.estimate, d.low, d.high) == (0.0, 0.0, 0.0)
    assert not d.excludes_zero and d.verdict() == "no"


def test_equally_good_systems_with_different_errors_contain_zero():
    a = system(mask(200, np.arange(0, 100)))[None]     # right on the first half
    b = system(mask(200, np.arange(100, 200)))[None]   # right on the second half
    d = paired_difference(a, b, resamples=2000, seed=1)
    assert d.estimate == pytest.approx(0.0)
    assert d.low < 0 < d.high and not d.excludes_zero
    assert d.high - d.low > 0.1  # disagreement on every sentence: a wide interval


def test_clearly_better_system_excludes_zero_on_the_right_side():
    better = system(mask(200, np.arange(0, 180)))[None]   # 90% of the sentences right
    worse = system(mask(200, np.arange(0, 100)))[None]    # 50% right (a subset of the above)
    d = paired_difference(better, worse, resamples=2000, seed=1)
    assert d.estimate == pytest.approx(0.9 - 0.5)  # F1 of these = share right
    assert d.low > 0 and d.excludes_zero and d.verdict() == "yes (better)"
    assert d.low <= d.estimate <= d.high
    r = paired_difference(worse, better, resamples=2000, seed=1)
    assert r.high < 0 and r.verdict() == "yes (worse)"
    assert r.low == pytest.approx(-d.high) and r.high == pytest.approx(-d.low)


def test_seeds_are_pooled_and_paired_by_row():
    n = 200
    a = np.stack([system(mask(n, np.arange(0, 150))), system(mask(n, np.arange(0, 170)))])
    b = np.stack([system(mask(n, np.arange(0, 100))), system(mask(n, np.arange(0, 120)))])
    d = paired_difference(a, b, resamples=1000, seed=3)
    assert d.estimate == pytest.approx(((0.75 - 0.5) + (0.85 - 0.6)) / 2)
    f = f1_interval(a, resamples=1000, seed=3)
    assert f.estimate == pytest.approx((0.75 + 0.85) / 2) and f.low < f.estimate < f.high
    with pytest.raises(ValueError, match="same seeds and sentences"):
        paired_difference(a, b[:1])


def test_deterministic_with_a_seed():
    rng = np.random.default_rng(42)  # varied counts, so percentiles are not stuck on a grid
    a, b = rng.integers(0, 4, size=(2, 3, 150, 3))
    one = paired_difference(a, b, resamples=3000, seed=7)
    assert paired_difference(a, b, resamples=3000, seed=7) == one
    assert paired_difference(a, b, resamples=3000, seed=8) != one
    assert f1_interval(a, resamples=3000, seed=7) == f1_interval(a, resamples=3000, seed=7)


def test_interval_width_matches_the_binomial_standard_error():
    # F1 of these systems = share of sentences right; its bootstrap 95% interval should be about
    # ±1.96·sqrt(p(1-p)/n) wide: 0.6 on 400 sentences -> ±0.048
    n = 400
    a = system(mask(n, np.arange(0, 240)), n)[None]
    f = f1_interval(a, resamples=4000, seed=0)
    half = 1.96 * (0.6 * 0.4 / n) ** 0.5
    assert f.high - f.low == pytest.approx(2 * half, rel=0.15)


def test_per_sentence_counts_add_up_to_the_micro_row():
    import pyarrow as pa

    gold = [(1, 0, 7, "Chemical"), (1, 15, 28, "Disease"), (2, 0, 5, "Disease"), (3, 4, 9, "Chemical")]
    pred = [(1, 0, 7, "Chemical"), (1, 0, 7, "Chemical"), (1, 15, 20, "Disease"),
            (2, 0, 5, "Chemical"), (4, 0, 3, "Disease"), (5, 0, 3, "Gene")]  # Gene: no such label
    g, p, labels = tables(gold, pred)
    sentences = pa.table({"sentence_id": pa.array([1, 2, 3, 4, 5, 6], pa.int64())})
    per = per_sentence(g, p, labels, sentences)
    assert per == {1: (1, 1, 1), 2: (0, 1, 1), 3: (0, 0, 1), 4: (0, 1, 0), 5: (0, 0, 0),
                   6: (0, 0, 0)}
    micro = next(s for s in compute(g, p, labels) if s.label == "*")
    tp, fp, fn = np.array(list(per.values())).sum(axis=0)
    assert (tp, tp + fp, tp + fn) == (micro.tp, micro.n_pred, micro.n_gold)
    assert micro_f1(np.array([tp, fp, fn])) == pytest.approx(micro.f1)


def test_report_intervals_per_budget_pair_seeds_and_compare_ablations_with_allabel():
    from allabel.experiments.report import ablations_table, intervals, intervals_table

    n = 200
    good, poor = system(mask(n, np.arange(0, 180))), system(mask(n, np.arange(0, 100)))
    counts = {}
    for seed in (0, 1, 2):
        counts[("random", "5", seed)] = poor
        counts[("allabel", "5", seed)] = good
        counts[("full", "full", seed)] = good
    counts[("allabel:DS", "5", 0)] = poor  # seeds 0 and 5: only seed 0 pairs with random
    counts[("allabel:DS", "5", 5)] = poor
    rows = {(r["strategy"], r["budget"]): r for r in intervals(counts, resamples=1000)}
    a = rows[("allabel", "5")]
    assert a["diff"].estimate == pytest.approx(0.4) and a["diff"].excludes_zero
    assert a["paired_seeds"] == 3 and a["diff_method"] is None
    # the report resamples each system once; the result equals resampling the pair directly
    assert a["diff"] == paired_difference(np.stack([good] * 3), np.stack([poor] * 3), resamples=1000)
    assert a["f1"] == f1_interval(np.stack([good] * 3), resamples=1000)
    ds = rows[("allabel:DS", "5")]
    assert ds["paired_seeds"] == 1 and ds["diff"].estimate == pytest.approx(0.0)
    assert ds["method_reference"] == "allabel" and ds["diff_method"].verdict() == "yes (worse)"
    assert rows[("random", "5")]["diff"] is None and rows[("full", "full")]["diff"] is None
    table = intervals_table(list(rows.values()))
    assert "| 5 | allabel | 3 | 0.900 [" in table and "yes (better)" in table
    assert "(1 paired seeds)" in table and "(reference)" in table
    abl = ablations_table(list(rows.values()))
    assert abl is not None and abl.count("\n") == 3 and "| 5 | allabel:DS | allabel | 2 |" in abl
    assert ablations_table([r for k, r in rows.items() if k[0] != "allabel:DS"]) is None


def test_ablations_are_measured_against_the_method_with_the_same_options():
    """allabel:DS+long changes one thing against allabel+long (stage 3 left out), not two against
    the paper's allabel; allabel+long itself is the option measured against the paper."""
    from allabel.experiments.report import intervals, method_reference

    assert [method_reference(s) for s in ("allabel:DS+long", "coreset", "uncertainty+long",
                                          "allabel+long", "allabel", "random", "random+long",
                                          "full")] == [
        "allabel+long", "allabel", "allabel+long", "allabel", None, None, None, None]
    n = 200
    good, mid, poor = (system(mask(n, np.arange(0, k))) for k in (180, 140, 100))
    counts = {}
    for seed in (0, 1):
        counts[("random", "5", seed)] = poor
        counts[("allabel", "5", seed)] = poor
        counts[("allabel+long", "5", seed)] = good
        counts[("allabel:DS+long", "5", seed)] = mid
        counts[("allabel:DS", "5", seed)] = mid
    rows = {r["strategy"]: r for r in intervals(counts, resamples=1000)}
    # against allabel+long (0.9) the ablation is worse; against the paper's allabel (0.5) it
    # would have looked better
    assert rows["allabel:DS+long"]["method_reference"] == "allabel+long"
    assert rows["allabel:DS+long"]["diff_method"].estimate == pytest.approx(-0.2)
    assert rows["allabel:DS+long"]["diff_method"].verdict() == "yes (worse)"
    assert rows["allabel:DS"]["diff_method"].estimate == pytest.approx(0.2)
    assert rows["allabel+long"]["diff_method"].estimate == pytest.approx(0.4)


def test_restrict_keeps_aligned_rows_of_the_chosen_sentences():
    """An enlarged sample split into the part already scored and the new part: each cell keeps
    the rows of exactly those sentences, in sample order, so pairing across cells still holds."""
    from allabel.experiments.report import intervals, restrict

    n = 200
    sample = list(range(1000, 1000 + n))
    good, poor = system(mask(n, np.arange(0, 180))), system(mask(n, np.arange(0, 100)))
    counts = {("random", "5", 0): poor, ("allabel", "5", 0): good}
    # the first 100 sentences: both systems right; the last 100: only `good` (up to 180)
    kept, cut = restrict(sample, counts, set(sample[100:]))
    assert kept == sample[100:]
    assert all(np.array_equal(cut[c], counts[c][100:]) for c in counts)
    rows = {r["strategy"]: r for r in intervals(cut, resamples=1000)}
    assert rows["allabel"]["diff"] == paired_difference(good[None, 100:], poor[None, 100:],
                                                        resamples=1000)
    assert rows["allabel"]["diff"].excludes_zero
    kept, cut = restrict(sample, counts, set(sample[:100]))
    rows = {r["strategy"]: r for r in intervals(cut, resamples=1000)}
    assert rows["allabel"]["diff"].estimate == pytest.approx(0.0)
    assert restrict(sample, counts, set())[0] == []
