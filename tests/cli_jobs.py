"""Running the real CLI as a job in another process, for the tests that interrupt jobs
(test_faults, test_chaos, test_ops_concurrency): spawn it, wait until it has done some work,
kill it, and check that a re-run ends with exactly the rows of a clean run.

One home for these helpers, so every fault test starts, waits for and judges a job the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from allabel.core.config import get_settings
from tests.fake_openai import FakeOpenAI

DATA = Path(__file__).parent / "data"
# the prediction job every fault test interrupts: the toy test split, demonstrations from train
PREDICT = ["predict", "--dataset", "toy", "--split", "test", "--demos", "train", "--k", "1"]
DONE = "SELECT count(*) FROM predictions WHERE status = 'done'"

Fetch = Callable[[str], list[tuple]]  # runs one query, returns its rows


def cmd(*args: str) -> list[str]:
    """The command line of ``allabel ARGS`` with this interpreter (no installed script needed)."""
    return [sys.executable, "-m", "allabel.cli.__main__", *args]


def start(args: list[str], env: dict[str, str] | None = None, quiet: bool = False,
          own_group: bool = False) -> subprocess.Popen:
    """Start ``allabel ARGS`` in the background with the current environment plus ``env``;
    stdout/stderr are captured as text (``quiet``: thrown away). ``own_group``: in a process
    group of its own, so ``kill_group`` reaches its worker processes too."""
    out = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(cmd(*args), env={**os.environ, **(env or {})}, stdout=out, stderr=out,
                            text=True, start_new_session=own_group)


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 120,
        replace_env: bool = False) -> subprocess.CompletedProcess:
    """Run ``allabel ARGS`` to the end (``env`` added to the current environment, or replacing
    it with ``replace_env``)."""
    full = env if replace_env and env is not None else {**os.environ, **(env or {})}
    return subprocess.run(cmd(*args), env=full, capture_output=True, text=True, timeout=timeout)


def wait_until(count: Callable[[], int], at_least: int, proc: subprocess.Popen,
               timeout: float = 90, what: str = "the job's progress") -> int:
    """Poll ``count()`` until it reaches ``at_least``; fail at once when the job ended before
    (the fault would then hit nothing) and after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = count()
        if n >= at_least:
            return n
        if proc.poll() is not None:
            _out, err = proc.communicate()
            pytest.fail(f"job ended before the fault ({proc.returncode}): {err}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what} >= {at_least}")


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the job and everything in its process group (orphaned pool workers included)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


TOY_TEST = ["Heparin was given .", "Warfarin too .", "Caffeine last ."]


def configure_toy(srv: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                  env: dict[str, str], test_lines: list[str]) -> None:
    """``srv`` as the LLM (``env`` on top of its URL), and dataset ``toy``: train =
    tests/data/small.tsv (gold, the demonstrations), test = ``test_lines``."""
    from allabel.ingest import ingest_path

    for k, v in {"ALLABEL_LLM_BASE_URL": srv.url, **env}.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    ingest_path(DATA / "small.tsv", "toy", "train")
    (tmp_path / "t.txt").write_text("".join(f"{line}\n" for line in test_lines))
    ingest_path(tmp_path / "t.txt", "toy", "test")


@contextlib.contextmanager
def fake_llm_with_toy_corpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, n: int,
                             delay: float) -> Iterator[FakeOpenAI]:
    """A fake OpenAI server configured as the LLM, and dataset ``toy`` whose test split is ``n``
    sentences "DrugI was given ." (the fake answers with the first word as a Chemical)."""
    with FakeOpenAI(delay=delay) as srv:
        configure_toy(srv, monkeypatch, tmp_path, {
            "ALLABEL_LLM_MODEL": "fake", "ALLABEL_LLM_CONCURRENCY": "2",
            "ALLABEL_LLM_BACKOFF": "0.01"}, [f"Drug{i} was given ." for i in range(n)])
        try:
            yield srv
        finally:
            get_settings.cache_clear()


def assert_exactly_once(fetch: Fetch, n: int) -> None:
    """The rows of a clean prediction run of ``n`` sentences: each predicted once and done, one
    LLM entity each, each prompt stored once in the cache."""
    assert fetch("SELECT count(*), count(DISTINCT sentence_id) FROM predictions "
                 "WHERE status = 'done'")[0] == (n, n)
    assert fetch("SELECT count(*) FROM predictions WHERE status <> 'done'")[0][0] == 0
    assert fetch("SELECT count(*), count(DISTINCT sentence_id) FROM entities "
                 "WHERE source = 'llm'")[0] == (n, n)
    assert fetch("SELECT count(*) FROM llm_calls")[0][0] == n


def conn_fetch(conn) -> Fetch:
    """``Fetch`` on the test's connection, ending its transaction after each query so the next
    one sees what the job committed meanwhile."""
    def fetch(sql: str) -> list[tuple]:
        rows = conn.execute(sql).fetchall()
        conn.commit()
        return rows
    return fetch
