"""``allabel datasets drop NAME``: remove a dataset and everything made from it, in one
transaction (a failure or an interruption leaves the database exactly as it was).

Why a command: before it, the only way was ``DELETE FROM datasets`` in SQL, which also works
(every table references datasets, sentences or runs with ON DELETE CASCADE) but says nothing of
what goes with it and runs under a job that still writes. Here the contents are counted first
(for the question and the report), a run that a live process holds refuses the drop, the
ingest's lock keeps a concurrent ingest out, and the rows kept by triggers instead of foreign
keys are checked before the commit. The LLM cache (``llm_calls``) is shared by every dataset and
stays; only this dataset's runs' links to it (``run_llm_requests``) go.
"""

from __future__ import annotations

from typing import Any

from allabel.core.errors import DatabaseError
from allabel.store import db, runs
from allabel.store.locks import Busy
from allabel.store.sqlfiles import queries

Q = queries("drop")


def contents(name: str, url: str | None = None) -> dict[str, Any]:
    """Row counts of what dropping ``name`` removes (an error for an unknown dataset)."""
    with db.connection(url) as conn:
        return db.one(conn, Q.contents, {"dataset_id": db.dataset_id(conn, name)})


def drop_dataset(name: str, url: str | None = None) -> dict[str, Any]:
    """Delete ``name`` and all its rows in one transaction; returns what was removed."""
    with db.connection(url) as conn:
        runs.reconcile(conn)
        with conn.transaction():
            conn.execute(Q.lock_dataset, {"name": name})
            ds = db.dataset_id(conn, name)
            busy = db.rows(conn, Q.running_runs, {"dataset_id": ds})
            if busy:
                held = ", ".join(f"{r['kind']} run {r['id']}" for r in busy)
                raise Busy(f"dataset {name!r} is in use: {held} is running in a live process; "
                           f"drop it once that job has ended (allabel runs)")
            found = db.one(conn, Q.contents, {"dataset_id": ds})
            ids = db.one(conn, Q.sentence_range, {"dataset_id": ds})
            conn.execute(Q.delete_dataset, {"dataset_id": ds})
            left = db.scalar(conn, Q.leftovers, {"dataset_id": ds, **ids})
            if left:
                raise DatabaseError(f"dropping {name!r} left {left} rows behind (predict_worklist / "
                                    f"bm25); nothing was removed")
        return found
