"""Job-level advisory locks for jobs that must run once at a time (a selection run, an
experiment). Work queues (embed, predict) need none: their workers claim rows with SKIP LOCKED."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from allabel import db
from allabel.errors import AllabelError


class Busy(AllabelError):
    exit_code = 6


@contextlib.contextmanager
def single(name: str, url: str | None = None) -> Iterator[None]:
    """Hold a session advisory lock named ``name`` for the block, or fail at once if taken."""
    conn = db.connect(url, autocommit=True, vector=False)
    try:
        got = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (name,)).fetchone()[0]
        if not got:
            raise Busy(f"{name} is already running in another process; try again when it is done")
        yield
    finally:
        conn.close()  # closing the session releases the lock
