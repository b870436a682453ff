"""Chaos: `allabel predict` (one or two worker processes) SIGKILLed at random points, 20 rounds
with a fixed seed; then one run to the end. The result is exactly the rows of a clean run and no
run is left `running` without a live holder after any round."""

from __future__ import annotations

import json
import os
import random
import signal
import time

import psutil

from tests.cli_jobs import PREDICT, assert_exactly_once, conn_fetch, fake_llm_with_toy_corpus, kill_group, run, start

N = 40
ROUNDS = 20
SEED = 16


def test_random_sigkills_end_with_exact_rows_and_no_stale_run(conn, monkeypatch, tmp_path):
    rng = random.Random(SEED)
    with fake_llm_with_toy_corpus(monkeypatch, tmp_path, N, delay=0.05) as fake:
        finished_rounds = 0
        for _ in range(ROUNDS):
            workers = rng.choice(["1", "2"])
            p = start([*PREDICT, "--workers", workers], quiet=True, own_group=True)
            time.sleep(rng.uniform(0.3, 3.0))
            victims = [p.pid] + [c.pid for c in psutil.Process(p.pid).children(recursive=True)
                                 if "python" in c.name()] if p.poll() is None else []
            if victims:
                os.kill(rng.choice(victims), signal.SIGKILL)
                time.sleep(rng.uniform(0.0, 0.5))
                kill_group(p)  # then the rest of the job (orphaned pool workers included)
            else:
                finished_rounds += 1
            p.wait(timeout=60)
            r = run(["runs", "--json"], timeout=60)
            assert r.returncode == 0, r.stderr
            states = [x["status"] for x in json.loads(r.stdout or "[]")]
            assert "running" not in states  # no live holder -> not running
        r = run(PREDICT, timeout=180)
        assert r.returncode == 0, r.stderr
        assert_exactly_once(conn_fetch(conn), N)
        assert conn.execute("SELECT status FROM runs").fetchall() == [("done",)]
        # a request can be asked again only when its asker was killed before storing the answer
        assert len(fake.requests) <= N + 2 * ROUNDS
        assert finished_rounds < ROUNDS  # the kills did land mid-run
