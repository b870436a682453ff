"""Shared helpers of the benchmark scripts: a throw-away embedded Postgres under /tmp."""

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

DATA = data_dir()  # the repository's data/ (or ALLABEL_DATA)


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
