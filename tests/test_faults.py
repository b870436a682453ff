"""Fault injection on a real embedded Postgres of its own: the postmaster is SIGKILLed while a
job runs and started again with `allabel db start`; jobs get SIGTERM; the database stays away.

Each statement of docs/operations.md ("What survives which fault") names the test here that
checks it (tests/test_operations_doc.py keeps the two in step).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from allabel.store import migrate
from tests.cli_jobs import (
    DONE,
    PREDICT,
    assert_exactly_once,
    fake_llm_with_toy_corpus,
    run,
    start,
    wait_until,
)
from tests.conftest import _with_db
from tests.fake_openai import FakeOpenAI

N = 30
_count = iter(range(10_000))


def _home_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ALLABEL_DATABASE_URL")}
    env["ALLABEL_HOME"] = str(home)
    return env


def db_start(home: Path) -> str:
    r = run(["db", "start"], _home_env(home), timeout=120, replace_env=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def fault_server():
    """An embedded server of this module only (we kill it), with a migrated template."""
    home = Path(tempfile.mkdtemp(prefix="allabel-fault-", dir="/tmp"))
    out = db_start(home)
    assert out.startswith("started: ")
    uri = out.split(" ", 1)[1]
    with psycopg.connect(uri, autocommit=True) as c:
        c.execute("CREATE DATABASE fault_template")
    migrate.upgrade(_with_db(uri, "fault_template"))
    try:
        yield home, uri
    finally:  # a short path under /tmp (the socket's path has a length limit), so remove it here
        run(["db", "stop"], _home_env(home), timeout=60, replace_env=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture()
def fdb(fault_server, monkeypatch):
    """A fresh database on the fault server; DATABASE_URL points at it (for subprocess jobs)."""
    home, uri = fault_server
    name = f"f_{os.getpid()}_{next(_count)}"
    with psycopg.connect(uri, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name} TEMPLATE fault_template")
    url = _with_db(uri, name)
    monkeypatch.setenv("DATABASE_URL", url)
    from allabel.core.config import get_settings

    get_settings.cache_clear()
    yield home, url
    get_settings.cache_clear()


@pytest.fixture()
def fake(fdb, monkeypatch, tmp_path):
    with fake_llm_with_toy_corpus(monkeypatch, tmp_path, N, delay=0.1) as srv:
        yield srv


def q(url: str, sql: str, *args) -> list[tuple]:
    """One query on a new connection (the server may have been restarted in between)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(url, connect_timeout=3, autocommit=True) as c:
                c.execute("SET search_path = allabel, public")
                return c.execute(sql, args or None).fetchall()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_for(url: str, sql: str, at_least: int, proc: subprocess.Popen, timeout: float = 90) -> int:
    """Until the count ``sql`` reaches ``at_least`` (on a fresh connection each time)."""
    return wait_until(lambda: q(url, sql)[0][0], at_least, proc, timeout, what=sql)


def kill_postmaster(home: Path) -> None:
    pgdata = home / "pgdata"
    pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)


def restart_after(home: Path, seconds: float = 1.5) -> None:
    time.sleep(seconds)
    out = db_start(home)  # must notice the dead postmaster and start a new one
    assert out.startswith("started: "), out


def assert_clean_prediction_rows(url: str, fake: FakeOpenAI) -> None:
    """Exactly the rows of a clean run: one done prediction and one entity (the first word,
    which is what the fake answers) per sentence; every answered request stored, none twice."""
    assert_exactly_once(lambda sql: q(url, sql), N)
    ents = q(url, "SELECT s.text, e.text, e.label FROM entities e JOIN sentences s "
                  "ON s.id = e.sentence_id WHERE e.source = 'llm'")
    assert len(ents) == N and all(t.split()[0] == e and lab == "Chemical" for t, e, lab in ents)
    answered = {m["messages"][-1]["content"] for m in fake.requests}
    stored = {r[0] for r in q(url, "SELECT request -> 'messages' -> -1 ->> 'content' FROM llm_calls")}
    assert answered <= stored and len(stored) == N
    assert len(fake.requests) == N  # nothing paid for was thrown away and asked again


def test_predict_survives_postmaster_restart(fdb, fake):
    home, url = fdb
    p = start(PREDICT)
    wait_for(url, DONE, 4, p)
    kill_postmaster(home)
    restart_after(home)
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, err
    assert "Traceback" not in err
    assert_clean_prediction_rows(url, fake)
    assert q(url, "SELECT status FROM runs") == [("done",)]


def test_embed_survives_postmaster_restart(fdb, tmp_path):
    home, url = fdb
    from allabel.ingest import ingest_path

    n = 200
    (tmp_path / "e.txt").write_text("".join(f"Sentence number {i} about aspirin {i % 7} .\n"
                                            for i in range(n)))
    ingest_path(tmp_path / "e.txt", "toy", "train")
    p = start(["embed", "--dataset", "toy", "--batch-size", "8"])
    wait_for(url, "SELECT count(*) FROM embeddings", 8, p, timeout=900)
    kill_postmaster(home)
    restart_after(home)
    out, err = p.communicate(timeout=900)
    assert p.returncode == 0, err
    assert q(url, "SELECT count(*), count(DISTINCT sentence_id) FROM embeddings")[0] == (n, n)


def test_ingest_survives_postmaster_restart(fdb, tmp_path):
    """The ingest waits inside its transaction (we hold its dataset lock) when the server dies;
    it reconnects and writes everything once."""
    home, url = fdb
    (tmp_path / "i.txt").write_text("".join(f"Ingested sentence {i} .\n" for i in range(50)))
    blocker = psycopg.connect(url, autocommit=True)
    blocker.execute("SELECT pg_advisory_lock(hashtextextended('allabel.ingest:' || 'toy', 0))")
    p = start(["ingest", str(tmp_path / "i.txt"), "--dataset", "toy", "--split", "pool"])
    wait_for(url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                  "AND query LIKE '%allabel.ingest%'", 1, p)
    kill_postmaster(home)
    restart_after(home)
    blocker.close()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "ingested 50 sentences" in out
    assert q(url, "SELECT count(*), count(DISTINCT position) FROM sentences WHERE split = 'pool'")[0] == (50, 50)
    assert q(url, "SELECT count(*) FROM source_files WHERE split = 'pool'")[0][0] == 1


def _selection(url: str) -> list[tuple]:
    return q(url, "SELECT sentence_id, stage, rank FROM selections ORDER BY rank")


def test_select_survives_postmaster_restart(fdb, fault_server, fake, tmp_path):
    """Stage 3 (LLM) is running when the server dies; the selection ends exactly as a clean run
    on a copy of the same database does."""
    home, url = fdb
    from allabel.ingest import ingest_path
    from allabel.retrieval.embed import embed_dataset

    fake.delay = 0.15
    words = ["aspirin", "heparin", "fever", "cough", "tablets", "dose", "liver", "kidney"]
    (tmp_path / "pool.tsv").write_text("".join(  # gold for the oracle
        f"Pill{i}\tB-Chemical\ncures\tO\n{words[i % 8]}\tO\n{words[(i * 3) % 8]}\tO\n.\tO\n\n"
        for i in range(40)))
    ingest_path(tmp_path / "pool.tsv", "toy", "pool")
    embed_dataset("toy", show_progress=False)
    name = f"clean_{os.getpid()}_{next(_count)}"
    _, uri = fault_server
    src = url.split("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(uri, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name} TEMPLATE {src}")
    clean = _with_db(uri, name)
    args = ["select", "--dataset", "toy", "--budget", "12", "--ratio", "1:1:2", "--oracle",
            "--uncertainty-candidates", "24", "--k", "1", "--pool-splits", "pool"]
    p = start(args)
    wait_for(url, DONE, 3, p)
    kill_postmaster(home)
    restart_after(home)
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, err
    assert "done; 12 sentences selected" in out
    requests_with_fault = len(fake.requests)
    r = run(args, {"DATABASE_URL": clean}, timeout=180)
    assert r.returncode == 0, r.stderr
    assert _selection(url) == _selection(clean) and len(_selection(url)) == 12
    stored = q(url, "SELECT count(*) FROM llm_calls")[0][0]
    assert stored == q(clean, "SELECT count(*) FROM llm_calls")[0][0] == requests_with_fault
    assert q(url, "SELECT status FROM runs") == [("done",)]


def test_sigterm_marks_interrupted_then_rerun_completes(fdb, fake):
    home, url = fdb
    fake.delay = 0.3
    p = start(PREDICT)
    wait_for(url, DONE, 4, p)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert time.monotonic() - t0 < 10  # the batch in hand is finished, not the whole run
    assert p.returncode == 128 + signal.SIGTERM, err
    assert "interrupted by SIGTERM" in err and "Traceback" not in err
    status, error = q(url, "SELECT status, error FROM runs")[0]
    assert status == "interrupted" and "SIGTERM" in error
    assert 4 <= q(url, DONE)[0][0] < N
    fake.delay = 0.0
    r = run(PREDICT)
    assert r.returncode == 0, r.stderr
    assert q(url, "SELECT status, error FROM runs") == [("done", None)]
    assert_clean_prediction_rows(url, fake)


def test_noop_runs_keep_done(fdb, fake):
    home, url = fdb
    fake.delay = 0.0
    r = run(PREDICT)
    assert r.returncode == 0, r.stderr
    before = q(url, "SELECT status, finished_at, started_at FROM runs")
    assert before[0][0] == "done"
    for extra in ([], ["--new"], []):
        r = run([*PREDICT, *extra])
        assert r.returncode == 0 and "nothing to do" in r.stdout
    assert q(url, "SELECT status, finished_at, started_at FROM runs") == before
    assert len(fake.requests) == N


def test_database_gone_for_good_is_one_line_and_marked_on_next_command(fdb, fake, tmp_path):
    """Retries exhausted: exit 4, one line; the run shows `interrupted` once the server is back
    (no live holder), and ingest/embed fail the same way while it is away."""
    home, url = fdb
    fake.delay = 0.3
    env = {"ALLABEL_DB_RETRY_SECONDS": "2", "ALLABEL_DB_RETRIES": "3"}
    p = start(PREDICT, env)
    wait_for(url, DONE, 2, p)
    kill_postmaster(home)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 4, err
    lines = [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln and "it/s" not in ln
             and "sent/s" not in ln]
    assert len(lines) == 1 and lines[0].startswith("error: the database did not answer"), err
    (tmp_path / "x.txt").write_text("One more .\n")
    for args in (["ingest", str(tmp_path / "x.txt"), "--dataset", "toy", "--split", "x"],
                 ["embed", "--dataset", "toy"]):
        r = run(args, env, timeout=60)
        assert r.returncode == 4 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.strip().startswith("error: the database did not answer")
    restart_after(home, 0)
    r = run(["runs", "--json"], timeout=60)
    assert r.returncode == 0, r.stderr
    import json

    runs = json.loads(r.stdout)
    assert [x["status"] for x in runs] == ["interrupted"]
    assert "process ended without finishing" in runs[0]["error"]
    fake.delay = 0.0
    r = run(PREDICT)
    assert r.returncode == 0, r.stderr
    assert q(url, "SELECT status FROM runs") == [("done",)]
