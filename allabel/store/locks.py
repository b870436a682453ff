"""Job-level advisory locks for jobs that must run once at a time (a selection run, an
experiment). Work queues (embed, predict) need none: their workers claim rows with SKIP LOCKED."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from allabel.core.errors import AllabelError
from allabel.store import db
from allabel.store.sqlfiles import queries

Q = queries("locks")


class Busy(AllabelError):
    """Not a failure: the same job runs elsewhere. The CLI prints ``busy: ...`` (exit 6) and the
    cron wrapper logs it and exits 0."""

    exit_code = 6
    prefix = "busy"


@contextlib.contextmanager
def single(name: str, url: str | None = None, job: str | None = None) -> Iterator[None]:
    """Hold a session advisory lock named ``name`` for the block, or fail at once if taken.

    ``job`` is how a person knows the job (``selection random 5% seed 0 of dataset bc``); the
    lock key itself (it can hold a whole JSON of parameters) is never shown."""
    conn = db.connect_retrying(url, autocommit=True, vector=False)  # waits for a restarting server
    got = False
    try:
        got = db.one(conn, Q.try_lock, {"name": name})["got"]
        if not got:
            raise Busy(f"{job or 'this job'} is already running in another process; "
                       f"nothing done here, try again when it is done")
        yield
    finally:
        # Unlock explicitly: a closed session frees its locks only when the server backend has
        # exited, so the same job started right after could still find the lock taken.
        if got and not conn.closed:
            with contextlib.suppress(Exception):  # a lost connection has released it anyway
                conn.execute(Q.unlock, {"name": name})
        conn.close()
