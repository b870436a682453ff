"""Usage mistakes are one `error:` line and exit 3, never a traceback; `--version` works; help
shows every option name in full, even in a pipe on a narrow terminal. Run as a user runs it: the
real entry point in a separate process (no database is needed for any of these)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from allabel import __version__

ALLABEL = [sys.executable, "-m", "allabel.cli"]


def run(*args: str, columns: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if columns:
        env["COLUMNS"] = str(columns)
    return subprocess.run([*ALLABEL, *args], capture_output=True, text=True, env=env, timeout=120)


def test_version():
    r = run("--version")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"allabel {__version__}\n", "")


@pytest.mark.parametrize("args, says", [
    (["ingest"], "allabel ingest: Missing argument"),
    (["nosuch"], "No such command 'nosuch'"),
    (["select", "--bogus"], "No such option: --bogus"),
    (["select", "--knn", "x"], "Invalid value for '--knn'"),
    (["select", "--budget"], "Option '--budget' requires an argument"),
    (["db", "nosuch"], "allabel db: No such command 'nosuch'"),
    (["--versoin"], "No such option: --versoin"),
])
def test_usage_errors_are_one_line_and_exit_3(args, says):
    r = run(*args)
    assert r.returncode == 3, r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_in_process_usage_error_exits_3(capsys):
    from allabel.cli import main

    with pytest.raises(SystemExit) as e:
        main(["select", "--strategy"])
    assert e.value.code == 3
    assert capsys.readouterr().err.count("\n") == 1


def test_no_command_prints_the_help_and_exits_0():
    r = run()
    assert r.returncode == 0 and r.stdout.startswith("Usage: allabel") and "select" in r.stdout


def test_help_shows_full_option_names_in_a_pipe_on_a_narrow_terminal():
    r = run("select", "--help", columns=60)
    assert r.returncode == 0
    for name in ("--uncertainty-candidates", "--pool-splits", "--similarity", "--resume"):
        assert name in r.stdout
    assert "…" not in r.stdout and "╭" not in r.stdout  # no rich box cutting names
    top = run("--help")
    # in a pipe the command list is 120 columns wide: whole one-line descriptions
    assert "Pick the sentences worth annotating (ALLabel or a baseline); every pick is recorded." in top.stdout


def test_ctrl_c_is_one_line_and_exit_130(db_url, conn):
    import signal
    import time

    # a job started in the background by a shell (CI runners do) inherits SIGINT ignored; give
    # the command the disposition a terminal gives it
    p = subprocess.Popen([*ALLABEL, "sql", "SELECT pg_sleep(900)"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "DATABASE_URL": db_url},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        end = time.monotonic() + 600
        while time.monotonic() < end and p.poll() is None:
            conn.rollback()  # pg_stat_activity is a snapshot per transaction: look again each time
            if conn.execute("SELECT count(*) FROM pg_stat_activity "
                            "WHERE query = 'SELECT pg_sleep(900)'").fetchone()[0]:
                break
            time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=300)
    finally:
        p.kill()
    assert p.returncode == 130
    assert err.splitlines() == ["interrupted: finished work is saved; run the same command again to continue"]
