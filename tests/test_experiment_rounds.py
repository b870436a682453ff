"""``allabel experiment --rounds``: oracle chains whose rounds never repeat a pick, whose
predictions use every round's annotations so far, independent of the other chains; token
budgets as experiment budgets; an existing experiment's identity is unchanged."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from allabel.core.config import get_settings
from allabel.experiments.experiment import ExperimentParams, identity, run_experiment
from allabel.experiments.experiment import test_sample as fixed_test_sample
from allabel.experiments.rounds import curves, markdown
from allabel.store.db import dataset_id
from allabel.store.runs import config_key
from tests.select_fixtures import small_corpus


@pytest.fixture()
def corpus(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ALLABEL_LLM_MAX_TOKENS", "16")
    get_settings.cache_clear()
    small_corpus(tmp_path, sizes=(("train", 30), ("test", 6)))
    yield
    get_settings.cache_clear()


def test_round_options_leave_an_experiment_key_unchanged():
    p = ExperimentParams(dataset="bc", budgets=["3"], strategies=["random"], seeds=1, test_sample=2,
                         k=1, pool_splits=["train"])
    backend = SimpleNamespace(name="local", model="m")
    assert "rounds" not in identity(p, backend) and "round_size" not in identity(p, backend)
    # the key of this experiment as computed before the round options existed
    assert config_key(identity(p, backend)) == config_key(
        {"dataset": "bc", "budgets": ["3"], "strategies": ["random"], "seeds": 1, "test_sample": 2,
         "k": 1, "test_split": "test", "uncertainty_candidates": "10x", "knn": 10,
         "pool_splits": ["train"], "backend": "local", "model": "m"})


def test_rounds_chain_without_repeats_and_report_the_curve(conn, corpus):
    p = ExperimentParams(dataset="bc", strategies=["random", "coreset"], seeds=1, test_sample=2,
                         k=1, pool_splits=["train"], rounds=3, round_size="3")
    exp = run_experiment(p, show_progress=False)
    rows = conn.execute("SELECT strategy, round, selection_run_id FROM experiment_rounds "
                        "WHERE experiment_id = %s ORDER BY strategy, round", (exp,)).fetchall()
    assert [(s, r) for s, r, _ in rows] == [(s, r) for s in ("coreset", "random") for r in (1, 2, 3)]
    for strategy in ("coreset", "random"):
        chain = [run for s, _, run in rows if s == strategy]
        seen: set[int] = set()
        for run in chain:
            got = {x for (x,) in conn.execute("SELECT sentence_id FROM selections WHERE run_id = %s",
                                              (run,))}
            assert len(got) == 3 and not got & seen  # a round never repeats its chain's picks
            seen |= got
        # the last round's prediction used all 9 annotations of its chain as demonstrations
        demos = conn.execute(
            "SELECT r.params ->> 'demos' FROM experiment_rounds q JOIN runs r ON r.id = q.prediction_run_id "
            "WHERE q.experiment_id = %s AND q.strategy = %s AND q.round = 3", (exp, strategy)).fetchone()[0]
        assert demos == "runs:" + ",".join(map(str, chain))
    # the chains are independent: coreset's round 1 is what a fresh coreset of 3 picks
    coreset_first = {x for (x,) in conn.execute(
        "SELECT sentence_id FROM selections WHERE run_id = %s", (rows[0][2],))}
    exp_plain = run_experiment(ExperimentParams(dataset="bc", budgets=["3"], strategies=["coreset"],
                                                seeds=1, test_sample=2, k=1, pool_splits=["train"]),
                               show_progress=False)
    plain_run = conn.execute("SELECT selection_run_id FROM experiment_cells WHERE experiment_id = %s",
                             (exp_plain,)).fetchone()[0]
    assert coreset_first == {x for (x,) in conn.execute(
        "SELECT sentence_id FROM selections WHERE run_id = %s", (plain_run,))}
    sample = fixed_test_sample(conn, dataset_id(conn, "bc"), p)
    table = curves(conn, exp, sample, resamples=200)
    assert [(r["strategy"], r["round"], r["sentences"]) for r in table] == [
        (s, r, 3.0 * r) for s in ("coreset", "random") for r in (1, 2, 3)]
    assert all(r["gain"] is None for r in table if r["round"] == 1)
    assert all(r["gain_low"] <= r["gain"] <= r["gain_high"] for r in table if r["round"] > 1)
    assert all(r["verdict"] in ("stop", "continue", "undecided") for r in table)
    assert "| coreset | 3 |" in markdown(table)


def test_a_token_budget_is_an_experiment_budget(conn, corpus):
    p = ExperimentParams(dataset="bc", budgets=["60t"], strategies=["random"], seeds=1,
                         test_sample=2, k=1, pool_splits=["train"])
    exp = run_experiment(p, show_progress=False)
    run = conn.execute("SELECT selection_run_id FROM experiment_cells WHERE experiment_id = %s",
                       (exp,)).fetchone()[0]
    tokens = conn.execute("SELECT sum(allabel.sentence_tokens(x.tokens, x.text)) FROM selections s "
                          "JOIN sentences x ON x.id = s.sentence_id WHERE s.run_id = %s",
                          (run,)).fetchone()[0]
    assert 0 < tokens <= 60
