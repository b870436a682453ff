"""Chaos: `allabel predict` (one or two worker processes) SIGKILLed at random points, 20 rounds
with a fixed seed; then one run to the end. The result is exactly the rows of a clean run and no
run is left `running` without a live holder after any round."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from allabel.config import get_settings
from allabel.ingest import ingest_path
from tests.fake_openai import FakeOpenAI

DATA = Path(__file__).parent / "data"
N = 40
ROUNDS = 20
SEED = 16


def cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "allabel.cli.__main__", *args]


def test_random_sigkills_end_with_exact_rows_and_no_stale_run(conn, monkeypatch, tmp_path):
    rng = random.Random(SEED)
    with FakeOpenAI(delay=0.05) as fake:
        for k, v in {"ALLABEL_LLM_BASE_URL": fake.url, "ALLABEL_LLM_MODEL": "fake",
                     "ALLABEL_LLM_CONCURRENCY": "2", "ALLABEL_LLM_BACKOFF": "0.01"}.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        ingest_path(DATA / "small.tsv", "toy", "train")
        (tmp_path / "t.txt").write_text("".join(f"Drug{i} was given .\n" for i in range(N)))
        ingest_path(tmp_path / "t.txt", "toy", "test")
        base = ["predict", "--dataset", "toy", "--split", "test", "--demos", "train", "--k", "1"]
        finished_rounds = 0
        for _ in range(ROUNDS):
            workers = rng.choice(["1", "2"])
            p = subprocess.Popen(cmd(*base, "--workers", workers), env=os.environ.copy(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            time.sleep(rng.uniform(0.3, 3.0))
            victims = [p.pid] + [c.pid for c in psutil.Process(p.pid).children(recursive=True)
                                 if "python" in c.name()] if p.poll() is None else []
            if victims:
                os.kill(rng.choice(victims), signal.SIGKILL)
                time.sleep(rng.uniform(0.0, 0.5))
                # then the rest of the job (orphaned pool workers included): nothing survives
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            else:
                finished_rounds += 1
            p.wait(timeout=60)
            r = subprocess.run(cmd("runs", "--json"), capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            states = [x["status"] for x in json.loads(r.stdout or "[]")]
            assert "running" not in states  # no live holder -> not running
        r = subprocess.run(cmd(*base), capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        done = conn.execute("SELECT count(*), count(DISTINCT sentence_id) FROM predictions "
                            "WHERE status = 'done'").fetchone()
        assert done == (N, N)
        assert conn.execute("SELECT count(*) FROM predictions WHERE status <> 'done'").fetchone()[0] == 0
        ents = conn.execute("SELECT count(*), count(DISTINCT sentence_id) FROM entities "
                            "WHERE source = 'llm'").fetchone()
        assert ents == (N, N)
        assert conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == N
        assert conn.execute("SELECT status FROM runs").fetchall() == [("done",)]
        # a request can be asked again only when its asker was killed before storing the answer
        assert len(fake.requests) <= N + 2 * ROUNDS
        assert finished_rounds < ROUNDS  # the kills did land mid-run
    get_settings.cache_clear()
