"""The OpenAI-compatible client against a fake local server: retries, persistent errors,
timeouts, malformed bodies, missing log-probs, and the cache (a re-run makes no call)."""

from __future__ import annotations

from pathlib import Path

import pytest

from allabel.core.config import get_settings
from allabel.core.errors import LLMError
from allabel.predict import predict_split
from tests.cli_jobs import TOY_TEST, configure_toy
from tests.fake_openai import FakeOpenAI

DATA = Path(__file__).parent / "data"
SECRET = "sk-test-SECRET-do-not-print-123"


@pytest.fixture()
def fake(db_url, monkeypatch, tmp_path):
    with FakeOpenAI() as srv:
        configure_toy(srv, monkeypatch, tmp_path, {
            "ALLABEL_LLM_MODEL": "fake-model", "ALLABEL_LLM_MAX_RETRIES": "2",
            "ALLABEL_LLM_BACKOFF": "0.01", "ALLABEL_LLM_TIMEOUT": "1", "ALLABEL_LLM_CONCURRENCY": "1",
            "ALLABEL_LLM_API_KEY": SECRET}, TOY_TEST)
        yield srv
    get_settings.cache_clear()


def rows(conn):
    return conn.execute("SELECT status, perplexity, parse_status FROM predictions ORDER BY id"
                        ).fetchall()


def test_429_then_success_is_retried_and_counted(conn, fake):
    fake.script = ["429", "ok", "ok", "ok"]
    st = predict_split("toy", "test", "train", k=1, show_progress=False)
    assert st.processed == 3 and st.calls == 3
    assert [r[0] for r in rows(conn)] == ["done"] * 3
    assert conn.execute("SELECT sum(retries) FROM run_llm_requests").fetchone()[0] == 1
    assert len(fake.requests) == 4
    ents = conn.execute("SELECT text, label FROM entities WHERE source='llm' ORDER BY id").fetchall()
    assert ents == [("Heparin", "Chemical"), ("Warfarin", "Chemical"), ("Caffeine", "Chemical")]


def test_persistent_500_keeps_finished_rows_and_rerun_continues(conn, fake, cli):
    fake.script = ["ok", "ok"]
    fake.default = "500"
    code, _, err = cli("predict", "--dataset", "toy", "--split", "test", "--demos", "train",
                       "--k", "1")
    assert code == 5 and "failed after 3 attempts: HTTP 500" in err
    assert [r[0] for r in rows(conn)] == ["done", "done", "pending"]
    assert conn.execute("SELECT status FROM runs").fetchone()[0] == "failed"
    fake.default = "ok"
    n_before = len(fake.requests)
    code, out, _ = cli("predict", "--dataset", "toy", "--split", "test", "--demos", "train",
                       "--k", "1")
    assert code == 0 and "1 LLM calls" in out
    assert len(fake.requests) == n_before + 1
    assert [r[0] for r in rows(conn)] == ["done"] * 3
    assert conn.execute("SELECT count(*) FROM entities WHERE source='llm'").fetchone()[0] == 3
    # everything cached: the same command again makes no call at all
    code, out, _ = cli("predict", "--dataset", "toy", "--split", "test", "--demos", "train",
                       "--k", "1")
    assert "nothing to do" in out and len(fake.requests) == n_before + 1


def test_timeout_is_a_clear_error(conn, fake):
    fake.default = "slow"
    fake.slow_seconds = 2.0
    with pytest.raises(LLMError, match="timed out"):
        predict_split("toy", "test", "train", k=1, limit=1, show_progress=False)
    assert rows(conn) == [("pending", None, None)]


def test_malformed_body_is_a_clear_error(conn, fake):
    fake.default = "garbage"
    with pytest.raises(LLMError, match="LLM endpoint"):
        predict_split("toy", "test", "train", k=1, limit=1, show_progress=False)
    assert rows(conn)[0][0] == "pending"


def test_answer_without_logprobs_has_unknown_perplexity(conn, fake):
    fake.default = "nologprobs"
    predict_split("toy", "test", "train", k=1, show_progress=False)
    assert rows(conn) == [("done", None, "ok")] * 3  # unknown, never 0
    assert conn.execute("SELECT count(*) FROM entities WHERE confidence IS NULL AND source='llm'"
                        ).fetchone()[0] == 3
    fake.default = "ok"


def test_demonstrations_are_retrieved_never_self_never_test(conn, fake):
    predict_split("toy", "test", "train", k=2, limit=1, show_progress=False)
    msgs = fake.requests[0]["messages"]
    assert msgs[0]["role"] == "system" and "Chemical" in msgs[0]["content"]
    assert len(msgs) == 1 + 2 * 2 + 1  # system, 2 demos, the sentence
    assert msgs[-1]["content"] == "Sentence: Heparin was given ."
    with pytest.raises(Exception, match="never come from the test split"):
        predict_split("toy", "train", "test", k=1, show_progress=False)


def test_api_key_never_printed_or_stored(conn, fake, cli):
    code, out, err = cli("predict", "--dataset", "toy", "--split", "test", "--demos", "train")
    assert code == 0
    sent = {k.lower(): v for k, v in fake.headers[0].items()}
    assert sent["authorization"] == f"Bearer {SECRET}"  # it was sent ...
    assert SECRET not in out + err  # ... but never printed
    stored = conn.execute("SELECT string_agg(request::text || coalesce(answer, ''), '') "
                          "FROM llm_calls").fetchone()[0]
    assert SECRET not in stored
    assert SECRET not in repr(get_settings())
    code, out, _ = cli("usage", "--json")
    assert SECRET not in out and '"calls": 3' in out
