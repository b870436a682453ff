"""Prediction runs keep their promises:
no transaction open while the LLM answers, an attempt limit (``failed``, never ``done``),
``--new`` with a meaning, explicit ``--demos``, evaluation refusing a selection run, ``created``
runs, and a prediction run's identity unchanged by the refactor."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError
from allabel.ingest import ingest_path
from allabel.predict import DemoPool, config_key, predict_split, run_params
from allabel.predict.prompt import prompt_version
from allabel.store import runs
from tests.cli_jobs import TOY_TEST, configure_toy
from tests.fake_openai import FakeOpenAI

DATA = Path(__file__).parent / "data"
PREDICT = ["predict", "--dataset", "toy", "--split", "test", "--demos", "train", "--k", "1"]


class WatchingFake(FakeOpenAI):
    """Looks at the database while it answers: how many sessions sit idle in a transaction that
    began before the request did. (It answers ``delay`` seconds after the request arrived, so a
    worker that opened a transaction and then asked would show one at least that old; another
    worker's short store transaction, caught between two of its statements, is younger.)"""

    def __init__(self, url: str, **kw):
        super().__init__(**kw)
        self.db_url, self.idle_in_transaction = url, []

    def answer(self, body: dict, what: str) -> dict:
        with psycopg.connect(self.db_url, autocommit=True) as c:
            self.idle_in_transaction.append(c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid() "
                "AND xact_start < clock_timestamp() - make_interval(secs => %s)",
                (self.delay * 0.8,)).fetchone()[0])
        return super().answer(body, what)


@pytest.fixture()
def fake(db_url, monkeypatch, tmp_path):
    with WatchingFake(db_url, delay=0.3) as srv:
        configure_toy(srv, monkeypatch, tmp_path, {
            "ALLABEL_LLM_MODEL": "fake", "ALLABEL_LLM_MAX_RETRIES": "0", "ALLABEL_LLM_BACKOFF": "0.01",
            "ALLABEL_LLM_CONCURRENCY": "2", "ALLABEL_LLM_MAX_ATTEMPTS": "2"}, TOY_TEST)
        yield srv
    get_settings.cache_clear()


def statuses(conn) -> list[tuple]:
    conn.commit()
    return conn.execute("SELECT status, attempts FROM predictions ORDER BY id").fetchall()


def test_no_transaction_is_open_while_the_llm_answers(conn, fake):
    st = predict_split("toy", "test", "train", k=1, workers=2, show_progress=False)
    assert st.processed == 3
    assert len(fake.idle_in_transaction) == 3 and set(fake.idle_in_transaction) == {0}


def test_a_prediction_that_keeps_failing_ends_failed_never_done(conn, cli, fake):
    fake.script = ["ok", "ok"]
    fake.default = "500"
    code, _, err = cli(*PREDICT)
    assert code == 5
    assert statuses(conn) == [("done", 1), ("done", 1), ("pending", 1)]
    code, _, err = cli(*PREDICT)  # the second failed attempt reaches llm_max_attempts = 2
    assert code == 5
    assert statuses(conn) == [("done", 1), ("done", 1), ("failed", 2)]
    asked = len(fake.requests)
    code, out, err = cli(*PREDICT)  # not asked again, and not reported as success
    assert code == 5 and len(fake.requests) == asked
    assert "failed 2 times" in err and "HTTP 500" in err and "--retry-failed" in err
    assert "nothing to do" not in out
    status, error = conn.execute("SELECT status, error FROM runs").fetchone()
    assert status == "failed" and "1 prediction(s)" in error
    code, out, _ = cli("runs", "--json")
    assert json.loads(out)[0]["failed"] == 1
    fake.default = "ok"
    code, out, err = cli(*PREDICT, "--retry-failed")
    assert code == 0, err
    assert "run total 3 done" in out and "0 failed" in out
    assert statuses(conn)[2] == ("done", 1)
    conn.commit()
    assert conn.execute("SELECT status, error FROM runs").fetchone() == ("done", None)


def test_new_skips_sentences_another_prediction_run_finished(conn, cli, fake):
    code, _, err = cli(*PREDICT)
    assert code == 0, err
    asked = len(fake.requests)
    other = ["predict", "--dataset", "toy", "--split", "test", "--demos", "train", "--k", "0"]
    code, out, err = cli(*other, "--new")  # another configuration: another run
    assert code == 0 and "nothing to do" in out and "--new" in out, err
    assert len(fake.requests) == asked
    conn.commit()
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM predictions").fetchone()[0] == 3
    code, out, err = cli(*other)  # without --new the other run labels every sentence itself
    assert code == 0 and "3 sentences" in out, err
    assert len(fake.requests) == asked + 3


def test_demos_are_named_explicitly(conn, fake, tmp_path):
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'toy'").fetchone()[0]
    explicit = DemoPool.resolve(conn, ds, "split:train")
    assert explicit.source == "split:train" and explicit.demos == DemoPool.resolve(conn, ds, "train").demos
    for bad, why in (("run:abc", "a run id is a number"), ("split:", "expected run:ID"),
                     ("pool:train", "expected run:ID"), ("run:999", "not a selection run"),
                     ("999", "not a selection run"), ("split:test", "never come from the test")):
        with pytest.raises(ConfigError, match=why):
            DemoPool.resolve(conn, ds, bad)
    (tmp_path / "n.txt").write_text("A split named like a number .\n")
    ingest_path(tmp_path / "n.txt", "toy", "7")
    with pytest.raises(ConfigError, match="ambiguous.*run:7 or split:7"):
        DemoPool.resolve(conn, ds, "7")
    assert DemoPool.resolve(conn, ds, "split:7").source == "split:7"
    sel = runs.open_run(conn, "selection", ds, {"test": "demos"})
    assert DemoPool.resolve(conn, ds, f"run:{sel.id}").source == f"run:{sel.id}"


def test_evaluating_a_selection_run_is_refused(conn, cli, fake):
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'toy'").fetchone()[0]
    sel = runs.open_run(conn, "selection", ds, {"test": "evaluate"})
    code, _, err = cli("evaluate", "--predictions", str(sel.id))
    assert code == 3 and f"run {sel.id} is not a prediction run" in err
    code, _, err = cli("evaluate", "--predictions", "12345")
    assert code == 3 and "no run 12345" in err
    conn.commit()
    assert conn.execute("SELECT count(*) FROM evaluations").fetchone()[0] == 0
    code, _, _ = cli(*PREDICT)
    run_id = conn.execute("SELECT id FROM runs WHERE kind = 'prediction'").fetchone()[0]
    code, _, err = cli("evaluate", "--predictions", str(run_id), "--against", str(sel.id))
    assert code == 3 and "only 'gold' is supported" in err
    code, out, err = cli("evaluate", "--predictions", str(run_id))
    # the toy test split is plain text: no gold to score against (issue 28: refused, not zeros)
    assert code == 3 and "no gold" in err and "allabel quality" in err


def test_a_run_with_nothing_to_do_stays_created(conn, cli, fake, tmp_path):
    """``created``: opened, never worked on (here: its split is empty after --new)."""
    code, _, err = cli(*PREDICT)
    assert code == 0, err
    code, out, _ = cli("predict", "--dataset", "toy", "--split", "test", "--demos", "train",
                       "--k", "2", "--new")
    assert "nothing to do" in out
    code, out, _ = cli("runs", "--json")
    assert [r["status"] for r in json.loads(out)] == ["done", "created"]


def test_prediction_run_identity_is_unchanged(conn, fake):
    """The parameters hashed into a run's identity, spelled out as before the refactor: the
    same command continues the lead's existing runs instead of starting over."""
    ds = conn.execute("SELECT id FROM datasets WHERE name = 'toy'").fetchone()[0]
    from allabel.llm import get_backend

    backend = get_backend()
    params = run_params(ds, "test", DemoPool.resolve(conn, ds, "split:train"), 1, backend)
    before = {"dataset_id": ds, "split": "test", "demos": "split:train", "k": 1,
              "backend": "openai", "model": "fake", "prompt": prompt_version(),
              "endpoint": fake.url, "max_tokens": get_settings().llm_max_tokens,
              "temperature": 0.0}
    assert params == before
    assert config_key(params) == config_key(before)
    assert list(params) == list(before)  # not that order matters: the key sorts
