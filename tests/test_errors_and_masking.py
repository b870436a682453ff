"""What holds without a server kill: secrets masked everywhere, a selection's
identity includes the LLM, user errors are one line with a documented code, unparseable answers
rank as most uncertain, one in-flight request per prompt, the DB retry policy's classification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from allabel.core.config import get_settings
from allabel.ingest import ingest_path
from tests.cli_jobs import configure_toy
from tests.conftest import REPO
from tests.fake_openai import FakeOpenAI

DATA = Path(__file__).parent / "data"
PASSWORD = "PwD-zz9-plural-Z-alpha"
KEY = "sk-KEY-never-anywhere-4242"


def _pool(tmp_path: Path, n: int = 24) -> Path:
    words = ["aspirin", "heparin", "fever", "cough", "tablets", "dose", "liver", "kidney"]
    f = tmp_path / "pool.tsv"
    f.write_text("".join(f"Pill{i}\tB-Chemical\ncures\tO\n{words[i % 8]}\tO\n{words[(i * 5) % 8]}\tO\n"
                         f".\tO\n\n" for i in range(n)))
    return f


@pytest.fixture()
def fake(db_url, monkeypatch, tmp_path):
    with FakeOpenAI() as srv:
        configure_toy(srv, monkeypatch, tmp_path, {
            "ALLABEL_LLM_MODEL": "fake", "ALLABEL_LLM_CONCURRENCY": "1", "ALLABEL_LLM_BACKOFF": "0.01",
            "ALLABEL_LLM_MAX_RETRIES": "1"}, [f"Drug{i} was given ." for i in range(6)])
        yield srv
    get_settings.cache_clear()


def _all_text(conn: psycopg.Connection) -> str:
    """Every row of every table and BI view, as text."""
    rels = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                        "WHERE table_schema IN ('allabel', 'bi')").fetchall()
    out = []
    for schema, name in rels:
        out += [r[0] for r in conn.execute(f'SELECT t::text FROM "{schema}"."{name}" t')]
    conn.commit()
    return "\n".join(out)


def test_secrets_masked_in_database_logs_and_reports(conn, fake, cli, monkeypatch, tmp_path):
    url = fake.url.replace("http://", f"http://user:{PASSWORD}@")
    monkeypatch.setenv("ALLABEL_LLM_BASE_URL", url)
    monkeypatch.setenv("ALLABEL_LLM_API_KEY", KEY)
    get_settings.cache_clear()
    outputs = []
    fake.script = ["ok", "ok"]
    fake.default = "500"  # errors carrying the endpoint end up in runs and predictions
    args = ["predict", "--dataset", "toy", "--split", "test", "--demos", "train", "--k", "1"]
    code, out, err = cli(*args)
    outputs.append(out + err)
    assert code == 5 and "user:***@127.0.0.1" in err
    fake.default = "ok"
    code, out, err = cli(*args)
    outputs.append(out + err)
    assert code == 0, err
    ingest_path(_pool(tmp_path), "toy", "pool")
    code, out, err = cli("select", "--dataset", "toy", "--budget", "4", "--strategy", "uncertainty",
                         "--oracle", "--uncertainty-candidates", "6", "--k", "1", "--pool-splits", "pool")
    outputs.append(out + err)
    assert code == 0, err
    for c in (["runs"], ["usage"], ["runs", "--json"]):
        code, out, err = cli(*c)
        outputs.append(out + err)
    # the cron wrapper's log
    env = {**os.environ, "ALLABEL_LOG_DIR": str(tmp_path / "logs"),
           "ALLABEL_BIN": str(Path(sys.executable).parent / "allabel")}
    r = subprocess.run([str(REPO / "scripts/cron/allabel-job"), *args, "--limit", "100"], env=env,
                       capture_output=True, text=True, timeout=120)
    logs = "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    # an experiment report (its params and tables) made with the same endpoint
    code, out, err = cli("experiment", "--dataset", "toy", "--strategies", "random", "--budgets", "2",
                         "--seeds", "1", "--test-sample", "3", "--k", "1", "--pool-splits", "pool",
                         "--eval-split", "train")  # scored against gold (toy's test split has none)
    outputs.append(out + err)
    assert code == 0, err
    exp = conn.execute("SELECT max(id) FROM experiments").fetchone()[0]
    conn.commit()
    code, out, err = cli("report", str(exp), "--out", str(tmp_path / "report"))
    outputs.append(out + err)
    report = "".join(p.read_text(errors="replace") for p in (tmp_path / "report").rglob("*")
                     if p.is_file() and p.suffix in (".md", ".csv", ".json", ".txt", ".html"))
    stored = _all_text(conn)
    assert "user:***@127.0.0.1" in stored  # the masked endpoint is what a run stores
    everything = "\n".join([stored, logs, report, r.stdout, r.stderr, *outputs])
    assert PASSWORD not in everything and KEY not in everything
    assert len(fake.headers) > 0 and all("Authorization" in h for h in fake.headers)  # secrets in use


def test_selection_identity_includes_the_llm(conn, fake, cli, monkeypatch, tmp_path):
    ingest_path(_pool(tmp_path), "toy", "pool")
    args = ["select", "--dataset", "toy", "--budget", "3", "--strategy", "uncertainty", "--oracle",
            "--uncertainty-candidates", "5", "--k", "1", "--pool-splits", "pool"]
    code, out, err = cli(*args)
    assert code == 0, err
    first = len(fake.requests)
    assert first == 5 and out.startswith("run 1: done")
    code, out, _ = cli(*args)  # same everything: the same run, no request
    assert out.startswith("run 1: done") and len(fake.requests) == first
    monkeypatch.setenv("ALLABEL_LLM_MODEL", "another-model")
    get_settings.cache_clear()
    code, out, err = cli(*args)
    assert code == 0, err
    assert not out.startswith("run 1:") and ": done" in out and len(fake.requests) == first + 5
    assert {r["model"] for r in fake.requests[first:]} == {"another-model"}
    params = [r[0] for r in conn.execute("SELECT params -> 'llm' FROM runs WHERE kind = 'selection' ORDER BY id")]
    assert [p["model"] for p in params] == ["fake", "another-model"]
    assert all(p["endpoint"] == fake.url and p["backend"] == "openai" and p["prompt"] for p in params)
    # a baseline that never asks the LLM keeps one identity whatever the model
    from allabel.select.params import SelectParams
    from allabel.select.run import identity_params

    assert "llm" not in identity_params(SelectParams("toy", "3", "random"), 1)


def test_unparseable_answers_rank_as_most_uncertain(conn, fake, cli, tmp_path):
    ingest_path(_pool(tmp_path, 8), "toy", "pool")
    fake.script = ["ok", "prose", "ok", "ok", "ok", "ok"]  # candidates are asked in id order
    code, out, err = cli("select", "--dataset", "toy", "--budget", "2", "--strategy", "uncertainty",
                         "--oracle", "--uncertainty-candidates", "6", "--k", "1", "--pool-splits", "pool")
    assert code == 0, err
    preds = conn.execute("SELECT sentence_id, parse_status, perplexity FROM predictions ORDER BY id").fetchall()
    assert [p[1] for p in preds].count("unparseable") == 1
    bad = next(p for p in preds if p[1] == "unparseable")
    # its perplexity alone would not put it first (equal to the others, not the lowest id)
    assert bad[2] is not None and bad[2] <= max(p[2] for p in preds)
    assert bad[0] != min(p[0] for p in preds)
    sel = conn.execute("SELECT sentence_id, rank, score FROM selections ORDER BY rank").fetchall()
    assert sel[0][0] == bad[0] and sel[0][2] == float("inf")


def test_one_request_in_flight_per_prompt_across_sessions(db_url, fake, conn):
    """Two workers (separate database sessions) ask the same new prompt at once: one request."""
    from allabel.llm import get_backend
    from allabel.llm.cache import CachedLLM

    run = conn.execute("INSERT INTO runs (kind, dataset_id, params) SELECT 'prediction', id, '{}' "
                       "FROM datasets RETURNING id").fetchone()[0]
    conn.commit()
    fake.delay = 0.5
    msgs = [{"role": "user", "content": "Sentence: Aspirin twice ."}]
    results = []
    llms = [CachedLLM(get_backend(), run, db_url) for _ in range(3)]
    threads = [threading.Thread(target=lambda c=c: results.append(c.complete(msgs))) for c in llms]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for c in llms:
        c.close()
    assert len(fake.requests) == 1
    assert len({r[1] for r in results}) == 1 and sorted(r[2] for r in results) == [False, True, True]
    assert conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 1


@pytest.mark.parametrize("args, needle", [
    (["ingest", str(DATA / "small.tsv"), "--dataset", "d" * 300, "--split", "train"],
     "--dataset: 300 characters, at most 200 allowed"),
    (["ingest", str(DATA / "small.tsv"), "--dataset", "d", "--split", "s" * 150],
     "--split: 150 characters, at most 100 allowed"),
    (["predict", "--dataset", "d", "--split", "s" * 150, "--demos", "train"],
     "--split: 150 characters, at most 100 allowed"),
    (["embed", "--dataset", "d" * 201], "--dataset: 201 characters, at most 200 allowed"),
])
def test_overlong_names_are_one_line_exit_3(cli, conn, args, needle):
    code, out, err = cli(*args)
    assert code == 3 and err.strip() == f"error: {needle}"
    assert conn.execute("SELECT count(*) FROM datasets").fetchone()[0] == 0


def test_overlong_split_from_a_file_name(cli, conn, tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / ("x" * 120 + ".txt")).write_text("A sentence .\n")
    code, _, err = cli("ingest", str(d), "--dataset", "d")
    assert code == 2 and "at most 100 allowed" in err and len(err.strip().splitlines()) == 1
    assert conn.execute("SELECT count(*) FROM sentences").fetchone()[0] == 0


SHAPES = [
    ([{"data": {"sentence_id": 1}, "annotations": "done"}], "task 1: annotations is a string, not a list"),
    ([{"id": 7, "data": {"sentence_id": 1}, "annotations": [{"result": ["Aspirin"]}]}],
     "task 1 (id 7): result item 1 is a string, not an object"),
    ([{"data": {"sentence_id": 1}, "annotations": ["x"]}], "task 1: annotation 1 is a string"),
    ([42], "task 1: a task is a JSON object, not a number"),
    ([{"data": [1, 2]}], "task 1: data is a list, not an object"),
    ([{"data": {"sentence_id": 1}, "annotations": [{"result": {"a": 1}}]}],
     "task 1: annotations[].result is an object, not a list"),
    ([{"data": {"sentence_id": 1}, "annotations": [{"result": [{"value": "x"}]}]}],
     "task 1: result item 1: value is a string, not an object"),
    ([{"data": {"sentence_id": 1}, "annotations": [{"result": [
        {"value": {"start": 0, "end": 3, "labels": "Chemical"}}]}]}],
     "task 1: result item 1: value.labels must be a non-empty list"),
]


@pytest.mark.parametrize("tasks, needle", SHAPES)
def test_label_studio_any_json_shape_is_one_line(cli, conn, tmp_path, tasks, needle):
    ingest_path(DATA / "small.tsv", "toy", "train")
    run = conn.execute("INSERT INTO runs (kind, dataset_id, params) SELECT 'selection', id, '{}' "
                       "FROM datasets RETURNING id").fetchone()[0]
    conn.commit()
    f = tmp_path / "ls.json"
    f.write_text(json.dumps(tasks))
    code, _, err = cli("import", str(f), "--run", str(run), "--format", "labelstudio")
    # the importer (reworked on main) rejects or skips odd shapes: never a traceback, no write
    assert code in (0, 2) and "Traceback" not in err, err
    assert conn.execute("SELECT count(*) FROM annotations").fetchone()[0] == 0


def test_retry_policy_classifies_errors():
    from allabel.core.errors import DatabaseError, DatabaseUnavailable
    from allabel.store import db

    assert db.is_transient(DatabaseUnavailable("x"))
    assert db.is_transient(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert not db.is_transient(psycopg.errors.CheckViolation("no"))
    assert not db.is_transient(psycopg.errors.QueryCanceled("statement timeout"))
    assert db.is_transient(psycopg.errors.CannotConnectNow("the database system is starting up"))
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise psycopg.errors.AdminShutdown("terminating connection")
        return "ok"

    os.environ["ALLABEL_DB_RETRY_BACKOFF"] = "0"
    get_settings.cache_clear()
    try:
        assert db.retrying(flaky) == "ok" and len(calls) == 3
        calls.clear()
        os.environ["ALLABEL_DB_RETRIES"] = "1"
        get_settings.cache_clear()
        with pytest.raises(DatabaseError, match="gave up after 2 attempts"):
            db.retrying(flaky)
    finally:
        os.environ.pop("ALLABEL_DB_RETRY_BACKOFF")
        os.environ.pop("ALLABEL_DB_RETRIES", None)
        get_settings.cache_clear()


def test_mask():
    from allabel.core.secrets import mask

    assert mask("postgresql://u:p4ss@h/db") == "postgresql://u:***@h/db"
    assert mask("http://x:y@h/v1?api_key=abc&z=1") == "http://x:***@h/v1?api_key=***&z=1"
    assert mask("Authorization: Bearer sk-abc.def") == "Authorization: Bearer ***"
