"""Method options beyond the paper: the length floor of stages 1-2, the total-NLL stage 3 score,
the stage 3 candidate count, and strategy variants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from allabel.core.errors import ConfigError
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


def test_entities_score_ranks_answers_that_name_an_entity_first():
    named = uncertainty.answer_score(1.2, 9, "entities", n_entities=2)
    empty = uncertainty.answer_score(4.0, 2, "entities", n_entities=0)  # the most perplexing
    assert named == 1.2 and empty == 0.0 and named > empty
    assert uncertainty.answer_score(None, 2, "entities", n_entities=3) is None  # unknown stays last
    ids, _ = uncertainty.most_uncertain({1: empty, 2: named, 3: None, 4: 1.1}, 2)
    assert ids == [2, 4]


def test_variants_parse():
    assert split_variant("allabel") == ("allabel", {})
    assert split_variant("allabel+long+total") == ("allabel", {"length_floor": 0.5,
                                                               "uncertainty_score": "total"})
    assert split_variant("allabel+long+entities") == ("allabel", {"length_floor": 0.5,
                                                                  "uncertainty_score": "entities"})
    with pytest.raises(ConfigError, match=r"\+wide"):
        split_variant("allabel+wide")


def test_stage3_scores_ten_times_its_size_and_records_it(conn, corpus):
    r = select(SelectParams("bc", "10", "allabel", oracle=True, k=1, uncertainty_candidates="2x"),
               show_progress=False)
    stats = conn.execute("SELECT stats FROM runs WHERE id = %s", (r.run_id,)).fetchone()[0]
    n3 = r.by_stage["uncertainty"]
    assert stats["uncertainty_scored"] == 2 * n3 == conn.execute(
        "SELECT count(*) FROM predictions WHERE run_id = %s", (r.run_id,)).fetchone()[0]


def test_stage3_with_entities_picks_the_most_perplexing_answers_that_name_an_entity(conn, corpus):
    """With the bundled model and real answers: stage 3's picks are the candidates with at least
    one predicted entity, most perplexing first; a candidate without entities is picked only
    when too few have one."""
    r = select(SelectParams("bc", "10", "allabel", oracle=True, k=1, uncertainty_candidates="4x",
                            uncertainty_score="entities"), show_progress=False)
    rows = conn.execute(
        "SELECT p.sentence_id, p.perplexity, p.n_entities, p.parse_status, s.stage IS NOT NULL "
        "FROM predictions p LEFT JOIN selections s ON s.run_id = p.run_id "
        "AND s.sentence_id = p.sentence_id AND s.stage = 'uncertainty' "
        "WHERE p.run_id = %s", (r.run_id,)).fetchall()
    n3 = r.by_stage["uncertainty"]
    assert n3 > 0 and len(rows) == 4 * n3 and sum(picked for *_, picked in rows) == n3

    def key(row):  # unparseable first, then answers naming an entity by perplexity, then the rest
        sid, ppl, n_ent, status, _ = row
        return (status != "unparseable", not (n_ent or 0) > 0, -(ppl or 0.0), sid)

    expected = {row[0] for row in sorted(rows, key=key)[:n3]}
    assert {row[0] for row in rows if row[4]} == expected
    # (whether the option changes the picks depends on the answers: the bundled model names an
    # entity in most; test_entities_score_ranks_answers_that_name_an_entity_first pins the order)
    assert any((row[2] or 0) > 0 for row in rows if row[4])


def test_experiment_on_devel_needs_a_pool_without_devel(db_url):
    from allabel.experiments.experiment import ExperimentParams, run_experiment

    for pool in (None, ["train", "devel"]):
        with pytest.raises(ConfigError, match="--pool-splits without it"):
            run_experiment(ExperimentParams("bc", ["5%"], ["random"], 1, test_split="devel",
                                            pool_splits=pool), show_progress=False)
