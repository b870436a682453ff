"""Many machines, one database: the embedded server opened to TCP with ``db start --listen``
(password required), and several worker processes — each with its own ALLABEL_HOME, as on
separate hosts — embedding and predicting against it over TCP. Every sentence is embedded and
predicted exactly once, and a worker killed mid-batch loses nothing."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.fake_openai import FakeOpenAI

DATA = Path(__file__).parent / "data"
N = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "allabel.cli.__main__", *args]


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ALLABEL_") and k not in ("DATABASE_URL", "OPENAI_BASE_URL")}
    env["ALLABEL_MODEL_CACHE"] = os.environ.get("ALLABEL_MODEL_CACHE", "/tmp/allabel-model-cache")
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (args, r.stdout, r.stderr[-3000:])
    return r.stdout


@pytest.fixture()
def tcp_server():
    """A second embedded server, in its own home, listening on 127.0.0.1:<free port>.

    Not under pytest's tmp_path: concurrent pytest sessions of the same user prune old
    /tmp/pytest-of-<user>/ folders, which pulled the data directory from under a running server."""
    base = Path(tempfile.mkdtemp(prefix="allabel-tcp-", dir="/tmp"))
    home = base / "server-home"
    env = base_env(ALLABEL_HOME=str(home))
    port = free_port()
    try:
        out = run(cmd("db", "start", "--listen", f"127.0.0.1:{port}"), env)
        assert f"127.0.0.1:{port}" in out
        yield home, port, env
    finally:
        subprocess.run(cmd("db", "stop"), env=env, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_listen_requires_the_generated_password(tcp_server):
    home, port, env = tcp_server
    url = run(cmd("db", "url"), env).strip()
    pw_file = home / "server.password"
    pw = pw_file.read_text().strip()
    assert url == f"postgresql://postgres:{pw}@127.0.0.1:{port}/postgres"
    assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600 and len(pw) >= 24
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT inet_server_port()").fetchone()[0] == port
    for bad in (f"postgresql://postgres@127.0.0.1:{port}/postgres",
                f"postgresql://postgres:wrong@127.0.0.1:{port}/postgres"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(bad, connect_timeout=10)
    # the address is remembered: a stop and a plain start listen again, with the same password
    run(cmd("db", "stop"), env)
    run(cmd("db", "start"), env)
    assert run(cmd("db", "url"), env).strip() == url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_reader_uri_over_tcp_works_and_reads_only_bi(tcp_server):
    """`db url --reader` of a listening server prints a URI with the reader's own generated
    password (owner-only file, never in `db start`'s output); over TCP it reads the bi views and
    nothing else: no allabel table, no temporary table, no table anywhere."""
    home, port, env = tcp_server
    out = run(cmd("db", "start", "--listen", f"127.0.0.1:{port}"), env)
    run(cmd("init"), env)
    run(cmd("ingest", str(DATA / "small.tsv"), "--dataset", "toy", "--split", "train"), env)
    url = run(cmd("db", "url", "--reader"), env).strip()
    pw_file = home / "reader.password"
    pw = pw_file.read_text().strip()
    assert url == f"postgresql://allabel_reader:{pw}@127.0.0.1:{port}/postgres"
    assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600 and len(pw) >= 24
    assert pw not in out and (home / "server.password").read_text().strip() not in out
    with psycopg.connect(url, connect_timeout=10) as r:
        assert r.execute("SELECT current_user, inet_server_port()").fetchone() == ("allabel_reader", port)
        assert r.execute("SELECT count(*) FROM bi.entity_mentions").fetchone()[0] == 2
        assert r.execute("SELECT count(*) FROM bi.bm25('toy', 'aspirin', 5)").fetchone()[0] >= 1
        for forbidden in ("SELECT * FROM allabel.sentences", "SELECT * FROM allabel.llm_calls",
                          "CREATE TEMP TABLE t (i int)", "CREATE TABLE public.t (i int)",
                          "CREATE TABLE bi.t (i int)", "DELETE FROM bi.entity_mentions"):
            with pytest.raises((psycopg.errors.InsufficientPrivilege,
                                psycopg.errors.ObjectNotInPrerequisiteState)):
                r.execute(forbidden)
            r.rollback()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"postgresql://allabel_reader:wrong@127.0.0.1:{port}/postgres",
                        connect_timeout=10)
    # a server that listened before the reader had a password: `db url --reader` gives it one
    pw_file.unlink()
    url2 = run(cmd("db", "url", "--reader"), env).strip()
    assert url2 != url and url2.startswith("postgresql://allabel_reader:")
    with psycopg.connect(url2, connect_timeout=10) as r:
        assert r.execute("SELECT count(*) FROM bi.label_counts").fetchone()[0] >= 1


def _wait_for(conn, sql: str, at_least: int, timeout: float = 600) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = conn.execute(sql).fetchone()[0]
        conn.commit()
        if n >= at_least:
            return n
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {sql}")


def test_workers_on_other_homes_share_one_tcp_server(tcp_server):
    home, port, env = tcp_server
    tmp_path = home.parent  # worker homes and input files beside the server's home
    url = run(cmd("db", "url"), env).strip()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE DATABASE scale")
    db = url.rsplit("/", 1)[0] + "/scale"

    def worker_env(i: int, **extra: str) -> dict[str, str]:
        home = tmp_path / f"worker{i}"  # a worker host's own home: no server is started there
        return base_env(ALLABEL_HOME=str(home), DATABASE_URL=db, **extra)

    run(cmd("init"), worker_env(0))
    (tmp_path / "pool.txt").write_text("".join(f"Drug{i} was given for disease {i % 7} .\n"
                                               for i in range(N)))
    run(cmd("ingest", str(DATA / "small.tsv"), "--dataset", "toy", "--split", "train"), worker_env(0))
    run(cmd("ingest", str(tmp_path / "pool.txt"), "--dataset", "toy", "--split", "test"), worker_env(0))

    conn = psycopg.connect(db, options="-c search_path=allabel,public")
    try:
        # ---- embed: three workers at once, small claims so that they interleave
        procs = [subprocess.Popen(cmd("embed", "--dataset", "toy", "--batch-size", "8"),
                                  env=worker_env(i), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for i in range(3)]
        outs = [p.communicate(timeout=600) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        total = conn.execute("SELECT count(*) FROM sentences").fetchone()[0]
        assert conn.execute("SELECT count(*), count(DISTINCT sentence_id) FROM embeddings"
                            ).fetchone() == (total, total)
        for h in (tmp_path / f"worker{i}" for i in range(3)):
            assert not (h / "pgdata").exists()  # workers never started a server of their own

        # ---- predict: one worker killed mid-batch, then three workers finish the run
        with FakeOpenAI(delay=0.3) as fake:
            llm = {"ALLABEL_LLM_BASE_URL": fake.url, "ALLABEL_LLM_MODEL": "fake",
                   "ALLABEL_LLM_CONCURRENCY": "2", "ALLABEL_LLM_BACKOFF": "0.01"}
            args = cmd("predict", "--dataset", "toy", "--split", "test", "--demos", "train",
                       "--k", "1", "--new")
            victim = subprocess.Popen(args, env=worker_env(9, **llm), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            done_q = "SELECT count(*) FROM predictions WHERE status = 'done'"
            _wait_for(conn, done_q, 1)
            # its next batch is claimed (session advisory locks of its connection) and in flight
            _wait_for(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND classid = 17 AND objsubid = 2 AND granted "
                            "AND NOT pid = pg_backend_pid()", 1)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            done = conn.execute(done_q).fetchone()[0]
            conn.commit()
            assert 0 < done < N
            fake.delay = 0.02
            procs = [subprocess.Popen(args + ["--workers", "2"], env=worker_env(i, **llm),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for i in range(3)]
            outs = [p.communicate(timeout=600) for p in procs]
            assert all(p.returncode == 0 for p in procs), outs
        assert conn.execute("SELECT count(*), count(DISTINCT sentence_id) FROM predictions "
                            "WHERE status = 'done'").fetchone() == (N, N)
        assert conn.execute("SELECT count(*) FROM predictions WHERE status <> 'done'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*), count(DISTINCT sentence_id) FROM entities "
                            "WHERE source = 'llm'").fetchone() == (N, N)
        assert conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == N
    finally:
        conn.close()
