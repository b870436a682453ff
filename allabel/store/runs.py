"""Runs: identity (one config key), lifecycle (open / hold / finish / fail) and liveness.

Why one module: a run's state must be true. ``running`` means a live process works on it right
now; that is decided by Postgres itself — every holder keeps the session advisory lock
``(16, run id)`` on a *lease* connection, so a holder that is killed, loses its machine or its
database connection simply stops holding it. :func:`reconcile` (run by every job and by
``allabel runs``) turns ``running`` runs without a holder into ``interrupted``; a holder whose
lease comes back after a database restart sets its run ``running`` again.

``hold()`` is the context manager every job uses: it marks the run running, turns the first
SIGINT/SIGTERM into "finish the batch in hand, then stop" (the job raises ``Interrupted``; the
run becomes ``interrupted``), marks ``failed`` with the (masked) reason on an error, and lets a
job that does not call ``finish`` leave the run as it found it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from allabel.core.errors import ConfigError, Interrupted
from allabel.core.secrets import mask
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("runs")
KINDS = ("selection", "prediction")
LEASE_SECONDS = 1.0  # how often a holder checks its lease connection (and re-takes it if lost)


def config_key(params: dict[str, Any]) -> str:
    """The identity of a run: sha256 over its parameters (sorted JSON). Same key = same run."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class RunRef:
    id: int
    status: str


def open_run(conn: psycopg.Connection, kind: str, dataset_id: int, params: dict[str, Any]) -> RunRef:
    """The run for ``params`` (created as ``created`` on first use). Its state is not touched:
    a job with nothing to do leaves a finished run finished. Commits."""
    if kind not in KINDS:
        raise ConfigError(f"unknown run kind {kind!r}")
    reconcile(conn)
    key = config_key(params)
    row = db.one(conn, Q.create, {"kind": kind, "dataset_id": dataset_id, "config_key": key,
                                  "params": Jsonb(params)})
    if row is None:
        row = db.one(conn, Q.find, {"kind": kind, "config_key": key})
    conn.commit()
    return RunRef(row["id"], row["status"])


def get(conn: psycopg.Connection, run_id: int) -> dict[str, Any] | None:
    """The run's id, kind, dataset_id, params and status, or None."""
    return db.one(conn, Q.get, {"run_id": run_id})


def require_kind(conn: psycopg.Connection, run_id: int, kind: str) -> dict[str, Any]:
    """The run, or a clear error when it does not exist or is of another kind."""
    run = get(conn, run_id)
    if run is None or run["kind"] != kind:
        raise ConfigError(f"run {run_id} is not a {kind} run")
    return run


def reconcile(conn: psycopg.Connection) -> list[int]:
    """Mark ``interrupted`` every ``running`` run that no live process holds. Commits."""
    ids = [r["id"] for r in db.rows(conn, Q.reconcile)]
    if not conn.autocommit:
        conn.commit()
    return ids


def list_runs(conn: psycopg.Connection, status: str | None = None) -> list[dict[str, Any]]:
    reconcile(conn)
    return db.rows(conn, Q.list, {"status": status})


# --- stop requests (SIGINT / SIGTERM) --------------------------------------------------------

_stop_events: list[Any] = [threading.Event()]  # the first is ours; pools add a shared one
_stop_signal: list[int] = []


def stop_requested() -> bool:
    """True once SIGINT/SIGTERM asked the job to stop after the batch in hand."""
    return any(e.is_set() for e in _stop_events)


def request_stop(signum: int = signal.SIGTERM) -> None:
    if not _stop_signal:
        _stop_signal.append(signum)
    for e in _stop_events:
        e.set()


def add_stop_event(event: Any) -> None:
    """Share stop requests with worker processes (a ``multiprocessing`` Event)."""
    _stop_events.append(event)
    if stop_requested():
        event.set()


def remove_stop_event(event: Any) -> None:
    with contextlib.suppress(ValueError):
        _stop_events.remove(event)


def check_stop() -> None:
    """Raise ``Interrupted`` when a stop was requested (call between batches)."""
    if stop_requested():
        signum = _stop_signal[0] if _stop_signal else signal.SIGTERM
        raise Interrupted(signum, f"interrupted by {signal.Signals(signum).name}: the batch in "
                          f"hand was saved; run the same command again to continue")


def _clear_stop() -> None:
    _stop_events[0].clear()
    _stop_signal.clear()


@contextlib.contextmanager
def graceful_signals() -> Iterator[None]:
    """First SIGINT/SIGTERM: request a stop; a second one: stop now (the batch rolls back)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: object) -> None:  # noqa: ARG001
        if stop_requested():
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        request_stop(signum)
        print(f"{signal.Signals(signum).name}: finishing the batch in hand, then stopping "
              f"(again to stop now)", file=sys.stderr, flush=True)

    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _clear_stop()


def worker_init(event: Any) -> None:
    """Initializer of a worker process: stop requests come from the parent through ``event``;
    the terminal's SIGINT is the parent's to handle, SIGTERM to a worker asks it to stop too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: request_stop(signum))
    add_stop_event(event)


# --- holding a run ---------------------------------------------------------------------------

def _rows(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """A statement's rows by column name ([] for one that returns none)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else []


class Lease:
    """The advisory lock that says "a live process works on run N", kept on its own connection
    by a thread that re-takes it after a database loss."""

    def __init__(self, run_id: int, url: str | None):
        self.run_id = run_id
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._link = db.Link(url, autocommit=True, vector=False, on_connect=self._take)
        self._thread = threading.Thread(target=self._keep, name=f"lease-{run_id}", daemon=True)

    def _take(self, conn: psycopg.Connection) -> None:
        conn.execute(Q.lock, {"run_id": self.run_id})

    def start(self) -> None:
        with self._lock:
            self._link.run(lambda c: None)
        self._thread.start()

    def _keep(self) -> None:
        while not self._stop.wait(LEASE_SECONDS):
            with self._lock:
                try:
                    conn = self._link.get()
                    conn.execute(Q.ping)
                except (psycopg.Error, db.DatabaseError):
                    self._link.reset()  # next tick reconnects and re-takes the lock
                    continue
                with contextlib.suppress(psycopg.Error):
                    conn.execute(Q.resume_if_reconciled, {"run_id": self.run_id})

    def execute(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run on the lease connection under the retry policy (the lock comes back with it)."""
        with self._lock:
            return self._link.run(lambda c: _rows(c, query, params))

    def execute_once(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One attempt, no waiting (the last word of a job that already gave up on the server)."""
        with self._lock:
            try:
                return _rows(self._link.get(), query, params)
            except (psycopg.Error, db.DatabaseError):
                self._link.reset()
                raise

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._link.close(last=lambda c: c.execute(Q.unlock, {"run_id": self.run_id}))


def release(conn: psycopg.Connection, run_id: int) -> None:
    """Give up this session's hold on ``run_id`` (before closing a worker's connection)."""
    conn.execute(Q.unlock, {"run_id": run_id})


class Holder:
    """What a job gets from :func:`hold`: the run id and ``finish``."""

    def __init__(self, run_id: int, lease: Lease):
        self.run_id, self._lease = run_id, lease
        self.finished: str | None = None

    def finish(self, status: str, stats: dict[str, Any] | None = None,
               error: str | None = None, once: bool = False, seconds: float | None = None) -> str:
        """Record the run's state (``running`` while another live holder works on it)."""
        run = self._lease.execute_once if once else self._lease.execute
        rows = run(Q.finish, {"run_id": self.run_id, "status": status,
                                              "stats": Jsonb(stats or {}), "seconds": seconds,
                                              "error": mask(error)[:2000] if error else None})
        self.finished = rows[0]["status"] if rows else status
        return self.finished

    def finish_prediction(self, stats: dict[str, Any] | None = None,
                          seconds: float | None = None) -> str:
        """``done`` when nothing is pending; else still ``running`` (others hold the rest).
        ``seconds`` of LLM work are added to ``stats.llm_wall_seconds``."""
        pending = self._lease.execute(Q.pending_predictions, {"run_id": self.run_id})[0]["pending"]
        return self.finish("done" if pending == 0 else "running", stats, seconds=seconds)


@contextlib.contextmanager
def hold(run_id: int, url: str | None = None) -> Iterator[Holder]:
    """Work on ``run_id``: mark it running while this process lives; on the way out record
    ``interrupted`` (signal), ``failed`` (error, masked) or what the job passed to ``finish``."""
    url = url or db.database_url()
    lease = Lease(run_id, url)
    lease.start()
    h = Holder(run_id, lease)
    try:
        lease.execute(Q.start, {"run_id": run_id, "holder": f"{socket.gethostname()}:{os.getpid()}"})
        with graceful_signals():
            yield h
        if h.finished is None:
            h.finish("interrupted", error="the job ended without recording a result")
    except Interrupted as e:
        _last_word(h, "interrupted", str(e))
        raise
    except (KeyboardInterrupt, SystemExit) as e:
        _last_word(h, "interrupted", f"interrupted ({type(e).__name__})")
        raise
    except Exception as e:
        _last_word(h, "failed", str(e) or type(e).__name__)
        raise
    finally:
        lease.stop()


def _last_word(h: Holder, status: str, error: str) -> None:
    """Best effort: when the database is gone, the next command's reconcile says it instead."""
    with contextlib.suppress(Exception):
        h.finish(status, error=error, once=True)

