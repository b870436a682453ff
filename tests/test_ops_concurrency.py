"""Many workers, overlapping cron runs and SIGKILL: every sentence is processed exactly once and a
killed job, re-run, ends with exactly the rows of an uninterrupted run."""

from __future__ import annotations

import signal
import time

import pytest

from allabel.predict import predict_split
from tests.cli_jobs import (
    DONE,
    PREDICT,
    assert_exactly_once,
    conn_fetch,
    fake_llm_with_toy_corpus,
    run,
    start,
    wait_until,
)

N = 24


@pytest.fixture()
def fake(db_url, monkeypatch, tmp_path):
    with fake_llm_with_toy_corpus(monkeypatch, tmp_path, N, delay=0.05) as srv:
        yield srv


def exactly_once(conn):
    assert_exactly_once(conn_fetch(conn), N)


def test_workers_process_each_sentence_once(conn, fake):
    st = predict_split("toy", "test", "train", k=1, workers=2, show_progress=False)
    assert st.processed == N
    exactly_once(conn)
    # each request reached the server once: no sentence was asked twice
    assert len(fake.requests) == N
    assert conn.execute("SELECT count(*) FROM run_llm_requests WHERE NOT cache_hit").fetchone()[0] == N


def test_overlapping_cron_runs(conn, fake):
    procs = [start([*PREDICT, "--new"]) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    exactly_once(conn)
    assert len(fake.requests) == N


def test_sigkill_mid_run_then_resume(conn, fake):
    fake.delay = 0.2
    p = start(PREDICT, quiet=True)
    wait_until(lambda: conn_fetch(conn)(DONE)[0][0], 4, p, timeout=60)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    done = conn.execute("SELECT count(*) FROM predictions WHERE status = 'done'").fetchone()[0]
    conn.commit()
    assert 4 <= done < N  # killed mid-run
    fake.delay = 0.0
    r = run(PREDICT)
    assert r.returncode == 0, r.stderr
    exactly_once(conn)
    # answers paid for before the kill were served from the cache on the re-run
    assert len(fake.requests) >= N and conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == N


def test_lost_connections_are_retried(conn, fake):
    """Every backend of the job is terminated mid-run; the job reconnects and finishes exactly."""
    import threading

    fake.delay = 0.15
    result: dict = {}

    def job():
        try:
            result["stats"] = predict_split("toy", "test", "train", k=1, show_progress=False)
        except Exception as e:  # pragma: no cover - reported below
            result["error"] = e

    t = threading.Thread(target=job)
    t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        n = conn.execute("SELECT count(*) FROM predictions WHERE status = 'done'").fetchone()[0]
        conn.commit()
        if n >= 4:
            break
        time.sleep(0.05)
    killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                          "AND backend_type = 'client backend'").fetchone()[0]
    conn.commit()
    t.join(timeout=120)
    assert killed >= 1 and "error" not in result, result.get("error")
    exactly_once(conn)
