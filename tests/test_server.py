"""The embedded server's lifecycle through the CLI, in separate processes with their own home:
start/stop/status/url, idempotent start, kept servers survive other commands, SIGTERM and a
SIGKILLed holder never leave an orphaned server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

ALLABEL = [sys.executable, "-m", "allabel.cli.__main__"]


@pytest.fixture()
def home():
    h = Path(tempfile.mkdtemp(prefix="allabel-srv-", dir="/tmp"))
    try:
        yield h
    finally:
        run(h, "db", "stop")
        shutil.rmtree(h, ignore_errors=True)


def env(home: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    e["ALLABEL_HOME"] = str(home)
    return e


def run(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*ALLABEL, *args], env=env(home), capture_output=True, text=True,
                          timeout=timeout)


def pg_running(home: Path) -> bool:
    pidfile = home / "pgdata" / "postmaster.pid"
    if not pidfile.exists():
        return False
    return psutil.pid_exists(int(pidfile.read_text().splitlines()[0]))


def wait_for(cond, timeout=20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def test_start_status_url_stop(home):
    r = run(home, "db", "start")
    assert r.returncode == 0 and r.stdout.startswith("started: postgresql://"), r.stderr
    r2 = run(home, "db", "start")
    assert r2.returncode == 0 and r2.stdout.startswith("already running")
    st = run(home, "db", "status")
    assert st.returncode == 0 and "kept=True" in st.stdout
    url = run(home, "db", "url").stdout.strip()
    assert url == r.stdout.split(": ", 1)[1].strip()
    q = run(home, "sql", "SELECT 40 + 2 AS answer", "--csv")
    assert q.stdout.splitlines() == ["answer", "42"]
    assert pg_running(home)  # sql did not stop the kept server
    assert run(home, "db", "stop").stdout.strip() == "stopped"
    assert not pg_running(home)
    st = run(home, "db", "status")
    assert st.returncode == 7 and "not running" in st.stdout and st.stderr == ""


def test_command_without_server_starts_and_stops_it(home):
    r = run(home, "sql", "SELECT 1")
    assert r.returncode == 0
    assert wait_for(lambda: not pg_running(home))


HOLDER = """
import sys, time
from pathlib import Path
from allabel.store import server
server.acquire(Path(sys.argv[1]))
print("ready", flush=True)
time.sleep(120)
"""


def _holder(home: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(home)], env=env(home),
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def test_sigterm_leaves_no_orphan(home):
    p = _holder(home)
    assert pg_running(home)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    assert wait_for(lambda: not pg_running(home)), "server left running after SIGTERM"


def test_sigkilled_holder_does_not_block_shutdown(home):
    p = _holder(home)
    p.kill()
    p.wait(timeout=10)
    assert pg_running(home)  # the killed holder could not stop it
    pids = json.loads((home / "pgdata" / ".handle_pids.json").read_text())
    assert p.pid in pids  # its stale PID is left behind
    q = _holder(home)  # the next holder prunes it ...
    q.send_signal(signal.SIGTERM)
    q.wait(timeout=30)
    assert wait_for(lambda: not pg_running(home)), "stale PID kept the server alive"
