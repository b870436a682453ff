"""Shared helpers of the scripts: a throw-away embedded Postgres under /tmp for the benchmarks,
and the scripts' named queries.

The scripts are not part of the installed package, so the SQL they run lives beside them, in
``scripts/sql/<script>.sql`` (``-- name: x`` blocks, read by the package's own parser); a query
the package already has is called from ``allabel/sql/queries/`` by name instead of copied.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from allabel.core.config import get_settings
from allabel.experiments.corpora import data_dir
from allabel.store import migrate, server
from allabel.store.sqlfiles import Queries, named_queries

DATA = data_dir()  # the repository's data/ (or ALLABEL_DATA)
SQL = Path(__file__).resolve().parent / "sql"


def script_queries(script: str) -> Queries:
    """The named queries of ``scripts/sql/<script>.sql``."""
    return named_queries(SQL / f"{script}.sql", f"scripts/sql/{script}.sql")


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A migrated embedded server in a temporary home; DATABASE_URL points at it."""
    home = Path(tempfile.mkdtemp(prefix="allabel-bench-", dir="/tmp"))
    try:
        url = server.acquire(home)
        migrate.upgrade(url)
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("ALLABEL_MODEL_CACHE", "/tmp/allabel-model-cache")
        get_settings.cache_clear()
        yield url
    finally:
        server.stop(home)
        shutil.rmtree(home, ignore_errors=True)
