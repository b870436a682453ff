"""Cron and logs: a busy single job is a plain `busy:` line naming the job (never the raw lock key)
and exit 0 through the cron wrapper; every log line carries a UTC time and the wrapper's PID; a
failure prints one line for cron's mail; no progress bars unless stderr is a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from allabel.select.run import SelectParams
from allabel.store.locks import single
from tests.conftest import REPO
from tests.select_fixtures import small_corpus

WRAPPER = str(REPO / "scripts/cron/allabel-job")
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[(\d+)\] \S")


def wrapper_env(db_url: str, log_dir: Path) -> dict[str, str]:
    return {**os.environ, "ALLABEL_LOG_DIR": str(log_dir), "DATABASE_URL": db_url,
            "ALLABEL_BIN": str(Path(sys.executable).parent / "allabel")}


def select_lock_key(p: SelectParams) -> str:
    """The key `allabel select` locks (allabel/select/run.py) for these parameters."""
    return f"allabel.select:{p.dataset}:{json.dumps(p.as_dict(), sort_keys=True)}"


def test_busy_job_is_a_plain_line_and_exit_0_for_cron(db_url, tmp_path, cli):
    small_corpus(tmp_path, embed=False)
    args = ["select", "--dataset", "bc", "--budget", "3", "--strategy", "random"]
    with single(select_lock_key(SelectParams("bc", "3", "random")), db_url):
        code, out, err = cli(*args)  # the CLI itself: exit 6, one line, the job by name
        assert code == 6 and out == ""
        assert err.splitlines() == ["busy: selection random budget 3 seed 0 of dataset bc is already "
                                    "running in another process; nothing done here, try again when it is done"]
        r = subprocess.run([WRAPPER, *args], env=wrapper_env(db_url, tmp_path / "logs"),
                           capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")  # nothing for cron to mail
    log = (tmp_path / "logs" / "allabel-select.log").read_text()
    lines = log.splitlines()
    assert len(lines) == 3, log
    assert lines[0].endswith("start: allabel " + " ".join(args))
    assert "busy: selection random budget 3 seed 0 of dataset bc is already running" in lines[1]
    assert lines[2].endswith("end: busy, skipped (another copy runs this job; allabel exit 6, exit 0 for cron)")
    assert "allabel.select:" not in log and "{" not in log  # no raw lock key
    pids = {LINE.match(x).group(1) for x in lines}
    assert len(pids) == 1
    # nothing was selected while busy; afterwards the same command runs
    code, out, _ = cli(*args)
    assert code == 0 and "awaiting_annotation; 3 sentences selected" in out


def test_log_lines_carry_time_and_pid_and_failures_reach_cron(db_url, tmp_path):
    env = wrapper_env(db_url, tmp_path)
    r1 = subprocess.run([WRAPPER, "embed", "--dataset", "nope"], env=env, capture_output=True, text=True,
                        timeout=120)
    r2 = subprocess.run([WRAPPER, "embed", "--dataset", "nope"], env=env, capture_output=True, text=True,
                        timeout=120)
    log = (tmp_path / "allabel-embed.log").read_text()
    assert r1.returncode == r2.returncode == 4 and r1.stdout == ""
    assert r1.stderr == ("allabel-job: allabel embed --dataset nope failed with exit 4; "
                         f"see {tmp_path}/allabel-embed.log\n")
    lines = log.splitlines()
    assert len(lines) == 6 and all(LINE.match(x) for x in lines), log
    # two runs, two PIDs, each on all of its own lines
    pids = [LINE.match(x).group(1) for x in lines]
    assert pids[:3] == [pids[0]] * 3 and pids[3:] == [pids[3]] * 3 and pids[0] != pids[3]
    assert lines[1].endswith("error: unknown dataset 'nope'; known: (none; ingest first)")


PROBE = "from allabel.core.progress import bars_wanted; print(bars_wanted(), bars_wanted(False))"


def test_bars_only_on_a_terminal():
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["False", "False"]  # stderr is a pipe
    primary, secondary = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-c", PROBE], stdout=subprocess.PIPE, stderr=secondary,
                           text=True, timeout=60)
    finally:
        os.close(secondary)
        os.close(primary)
    assert r.stdout.split() == ["True", "False"]  # a terminal, unless the caller said no


def test_library_bars_are_off_in_a_pipe_too():
    """Bars drawn by libraries themselves (transformers' GGUF conversion) go through tqdm too."""
    code = ("from allabel.core.progress import silence_other_bars; silence_other_bars(); "
            "from tqdm import tqdm; print(sum(tqdm(range(50000))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"})
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{sum(range(50000))}\n", "")


def test_embed_draws_no_bar_into_a_log(db_url, tmp_path):
    small_corpus(tmp_path, sizes=(("train", 12),), embed=False)
    r = subprocess.run([sys.executable, "-m", "allabel.cli", "embed", "--dataset", "bc"],
                       capture_output=True, text=True, timeout=1200,
                       env={**os.environ, "DATABASE_URL": db_url})
    assert r.returncode == 0, r.stderr
    assert "12" in r.stdout
    assert "\r" not in r.stderr and "sent/s" not in r.stderr and "%|" not in r.stderr
