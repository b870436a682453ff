"""Cost before and after (issue 12): ``--estimate`` against the real counts of a small run, and
``usage`` with money and wall-clock seconds."""

from __future__ import annotations

import json

import pytest

from allabel.core.config import get_settings
from allabel.estimate import estimate_experiment, estimate_predict, estimate_select
from allabel.experiments.experiment import ExperimentParams, run_experiment
from allabel.llm.cache import usage
from allabel.predict import predict_split
from allabel.select.run import SelectParams, select
from tests.fake_openai import FakeOpenAI
from tests.select_fixtures import small_corpus

PRICES = {"fake-model": {"prompt": 2.0, "completion": 8.0}}


@pytest.fixture()
def fake(db_url, tmp_path, monkeypatch):
    small_corpus(tmp_path, embed=False)
    with FakeOpenAI(delay=0.02) as srv:
        for k, v in {"ALLABEL_LLM_BASE_URL": srv.url, "ALLABEL_LLM_MODEL": "fake-model",
                     "ALLABEL_LLM_CONCURRENCY": "2", "ALLABEL_LLM_PRICES": json.dumps(PRICES)
                     }.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        yield srv


def _paid(conn, run_id: int) -> tuple[int, int]:
    return conn.execute("SELECT count(*), coalesce(sum(c.prompt_tokens), 0) FROM run_llm_requests q "
                        "JOIN llm_calls c ON c.id = q.call_id WHERE q.run_id = %s AND NOT q.cache_hit",
                        (run_id,)).fetchone()


def test_estimates_match_real_calls_and_tokens(conn, fake, cli):
    # history to calibrate on (a different split and k)
    predict_split("bc", "devel", "train", k=1, limit=10, show_progress=False)
    n_before = len(fake.requests)

    est = estimate_predict("bc", "test", "train", k=3, limit=8)
    assert len(fake.requests) == n_before  # no LLM call
    st = predict_split("bc", "test", "train", k=3, limit=8, show_progress=False)
    calls, tokens = _paid(conn, st.run_id)
    assert est.calls == calls == 8
    assert abs(est.prompt_tokens - tokens) <= 0.05 * tokens
    assert est.money == pytest.approx((est.prompt_tokens * 2 + est.completion_tokens * 8) / 1e6)
    # now everything is done: nothing to estimate; a new limit only estimates the rest
    assert estimate_predict("bc", "test", "train", k=3, limit=8).calls == 0
    assert estimate_predict("bc", "test", "train", k=3, limit=10).calls == 2

    p = SelectParams("bc", "3", "uncertainty", oracle=True, k=2, uncertainty_candidates=12,
                     pool_splits=["train"])
    n_before = len(fake.requests)
    est = estimate_select(p)
    assert len(fake.requests) == n_before
    r = select(p, show_progress=False)
    calls, tokens = _paid(conn, r.run_id)
    assert est.calls == calls == 12
    assert abs(est.prompt_tokens - tokens) <= 0.05 * tokens
    # through the CLI: the estimate of a finished selection is zero
    code, out, _ = cli("select", "--dataset", "bc", "--budget", "3", "--strategy", "uncertainty",
                       "--oracle", "--k", "2", "--uncertainty-candidates", "12",
                       "--pool-splits", "train", "--estimate")
    assert code == 0 and "0 LLM calls" in out

    # usage: money from the configured prices, wall-clock seconds of the LLM work
    u = {row["run"]: row for row in usage(conn)}[st.run_id]
    pt, ct = conn.execute("SELECT sum(c.prompt_tokens), sum(c.completion_tokens) FROM "
                          "run_llm_requests q JOIN llm_calls c ON c.id = q.call_id "
                          "WHERE q.run_id = %s", (st.run_id,)).fetchone()
    assert u["money"] == pytest.approx((pt * 2 + ct * 8) / 1e6)
    assert u["wall_seconds"] is not None and u["wall_seconds"] >= u["llm_seconds"] / 2
    code, out, _ = cli("usage")
    assert "USD" in out and "wall s" in out and f"{u['money']:.4f}" in out


def test_experiment_estimate_counts_the_calls_it_will_make(conn, fake, cli):
    predict_split("bc", "devel", "train", k=1, limit=6, show_progress=False)
    p = ExperimentParams("bc", budgets=["3"], strategies=["random", "uncertainty"], seeds=1,
                         test_sample=5, k=1, uncertainty_candidates="6", pool_splits=["train"])
    est = estimate_experiment(p)
    assert est.requests == 2 * 5 + 6
    n_before = len(fake.requests)
    run_experiment(p, show_progress=False)
    # requests are exact; calls are an upper bound (the cache is not consulted for prompts that
    # depend on selections not made yet; here one test prompt repeats across the two cells)
    requests = conn.execute("SELECT count(*) FROM run_llm_requests q JOIN runs r ON r.id = q.run_id "
                            "WHERE r.kind = 'selection' OR r.params->>'split' = 'test'").fetchone()[0]
    assert requests == est.requests
    assert len(fake.requests) - n_before <= est.calls
    assert estimate_experiment(p).requests == 0  # every cell done
    code, out, _ = cli("experiment", "--dataset", "bc", "--budgets", "3", "--strategies",
                       "random,uncertainty", "--seeds", "1", "--test-sample", "5", "--k", "1",
                       "--uncertainty-candidates", "6", "--pool-splits", "train", "--estimate")
    assert code == 0 and "0 LLM calls" in out and "estimate (no LLM call made)" in out



def test_experiment_estimate_counts_seed_free_repeats_as_cached(conn, fake):
    # full picks the same sentences at every seed (no stage uses the seed), so its seed 1 asks
    # seed 0's prompts again: cache hits. random's seeds draw different picks: counted as calls.
    predict_split("bc", "devel", "train", k=1, limit=6, show_progress=False)
    p = ExperimentParams("bc", budgets=["3"], strategies=["random", "full"], seeds=2,
                         test_sample=5, k=1, pool_splits=["train"])
    est = estimate_experiment(p)
    assert (est.requests, est.cache_hits) == (4 * 5, 5)
    assert "cached: the repeated seeds of seed-free selections (5)" in str(est)
    two = estimate_experiment(p, workers=2)  # two processes, each with its own requests in flight
    assert est.seconds > 0 and two.seconds == pytest.approx(est.seconds / 2)
    assert "concurrency 2 x 2 worker(s)" in str(two)
    n_before = len(fake.requests)
    run_experiment(p, show_progress=False)
    made = len(fake.requests) - n_before
    assert made <= est.calls  # random's two seeds may share a prompt; nothing more than counted
    runs = [r for (r,) in conn.execute(
        "SELECT prediction_run_id FROM experiment_cells WHERE strategy = 'full' ORDER BY seed")]
    assert _paid(conn, runs[0])[0] == 5 and _paid(conn, runs[1])[0] == 0  # seed 1: all cached
    assert conn.execute("SELECT count(*) FROM run_llm_requests WHERE run_id = %s AND cache_hit",
                        (runs[1],)).fetchone()[0] == 5
    # a resumed experiment whose full seed 0 is done counts its seed 1 as cached too
    conn.execute("UPDATE experiment_cells SET status = 'pending' WHERE strategy = 'full' AND seed = 1")
    conn.commit()
    again = estimate_experiment(p)
    assert (again.requests, again.cache_hits) == (5, 5) and again.calls == 0
