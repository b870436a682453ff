"""Method options beyond the paper: the length floor of stages 1-2, the total-NLL stage 3 score,
the stage 3 candidate count, and strategy variants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from allabel.errors import ConfigError
from allabel.select.run import SelectParams, select
from allabel.select.stages import uncertainty
from allabel.select.variants import split_variant


def token_counts(conn, run_id):
    return [r[0] for r in conn.execute(
        "SELECT cardinality(regexp_split_to_array(btrim(x.text), '\\s+')) FROM selections s "
        "JOIN sentences x ON x.id = s.sentence_id WHERE s.run_id = %s", (run_id,))]


@pytest.mark.parametrize("strategy", ["coreset", "similarity", "random"])
def test_length_floor_keeps_short_sentences_out_of_stages_1_and_2(conn, corpus, strategy):
    pool = [r[0] for r in conn.execute(
        "SELECT cardinality(regexp_split_to_array(btrim(text), '\\s+')) FROM sentences "
        "WHERE split IN ('train', 'devel')")]
    median = float(np.quantile(pool, 0.5))
    plain = select(SelectParams("bc", "12", strategy), show_progress=False)
    floor = select(SelectParams("bc", "12", strategy, length_floor=0.5), show_progress=False)
    assert plain.run_id != floor.run_id and floor.selected == 12
    assert min(token_counts(conn, floor.run_id)) >= median
    assert min(token_counts(conn, plain.run_id)) < median  # the paper's picks include short ones


def test_candidate_cap_spec():
    assert uncertainty.candidate_cap("10x", 7) == 70
    assert uncertainty.candidate_cap("all", 7) is None
    assert uncertainty.candidate_cap("25", 7) == 25
    assert uncertainty.candidate_cap("0.5x", 7) == 7  # never fewer than the stage needs
    for bad in ("ten", "0", "-3x", ""):
        with pytest.raises(ConfigError):
            uncertainty.candidate_cap(bad, 7)


def test_total_score_prefers_long_uncertain_answers():
    short = uncertainty.answer_score(3.0, 2, "total")       # one uncertain 'none'
    long = uncertainty.answer_score(2.0, 30, "total")       # many mentions, each a little unsure
    assert math.isclose(long, 30 * math.log(2.0)) and long > short
    assert uncertainty.answer_score(3.0, 2, "perplexity") > uncertainty.answer_score(2.0, 30, "perplexity")
    assert uncertainty.answer_score(None, 5, "total") is None
    with pytest.raises(ConfigError):
        uncertainty.answer_score(2.0, 3, "entropy")


def test_variants_parse():
    assert split_variant("allabel") == ("allabel", {})
    assert split_variant("allabel+long+total") == ("allabel", {"length_floor": 0.5,
                                                               "uncertainty_score": "total"})
    with pytest.raises(ConfigError, match=r"\+wide"):
        split_variant("allabel+wide")


def test_stage3_scores_ten_times_its_size_and_records_it(conn, corpus):
    r = select(SelectParams("bc", "10", "allabel", oracle=True, k=1, uncertainty_candidates="2x"),
               show_progress=False)
    stats = conn.execute("SELECT stats FROM runs WHERE id = %s", (r.run_id,)).fetchone()[0]
    n3 = r.by_stage["uncertainty"]
    assert stats["uncertainty_scored"] == 2 * n3 == conn.execute(
        "SELECT count(*) FROM predictions WHERE run_id = %s", (r.run_id,)).fetchone()[0]


def test_experiment_on_devel_needs_a_pool_without_devel(db_url):
    from allabel.experiment import ExperimentParams, run_experiment

    for pool in (None, ["train", "devel"]):
        with pytest.raises(ConfigError, match="--pool-splits without it"):
            run_experiment(ExperimentParams("bc", ["5%"], ["random"], 1, test_split="devel",
                                            pool_splits=pool), show_progress=False)
