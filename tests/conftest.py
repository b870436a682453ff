"""Test fixtures: one real embedded Postgres (with pgvector) for the whole session.

The schema is migrated once into a template database; every test that asks for ``db_url`` gets a
fresh database cloned from it (``CREATE DATABASE ... TEMPLATE``, ~50 ms), so tests are isolated
and never see each other's rows. ``DATABASE_URL`` is pointed at that database so the CLI and the
library code under test use it.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from allabel.core.config import get_settings
from allabel.store import migrate, server

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"  # the corpora shipped with the repository (data/README.md)
BC5CDR = DATA / "bc5cdr"
TEMPLATE = "allabel_template"
# the bundled GGUF is converted to a model folder once per machine, not once per test session
os.environ.setdefault("ALLABEL_MODEL_CACHE", "/tmp/allabel-model-cache")
_counter = itertools.count()


def _with_db(uri: str, name: str) -> str:
    base, _, query = uri.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return base + ("?" + query if query else "")


@pytest.fixture(scope="session")
def pg_home():
    """The session's server home, removed at the end (with its server: ~130 MB per session)."""
    # keep the datadir out of private homes: the wheel chmods o+rx on every parent as root
    home = Path(tempfile.mkdtemp(prefix="allabel-test-", dir="/tmp"))
    try:
        yield home
    finally:
        server.shutdown(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(pg_home: Path) -> str:
    """URI of the session's embedded server (admin database ``postgres``)."""
    uri = server.acquire(pg_home)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    migrate.upgrade(_with_db(uri, TEMPLATE))
    return uri


@pytest.fixture()
def db_url(pg_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, migrated database for this test; DATABASE_URL points at it."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    url = _with_db(pg_server, name)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture()
def conn(db_url: str):
    from allabel.store import db

    c = db.connect(db_url)
    yield c
    c.close()


@pytest.fixture()
def cli(db_url: str, capsys: pytest.CaptureFixture):
    """Run the CLI in-process: ``cli("ingest", path, ...) -> (exit_code, stdout, stderr)``."""
    from allabel.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def fresh_empty_db(pg_server: str) -> str:
    """An empty database (no schema) for migration tests."""
    name = f"empty_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return _with_db(pg_server, name)



@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory: pytest.TempPathFactory):
    """(url, token) of a real Label Studio server, started once per test session (only when a
    test asks for it); see tests/labelstudio_server.py."""
    from tests.labelstudio_server import running_labelstudio

    try:
        with running_labelstudio(tmp_path_factory.mktemp("labelstudio") / "data") as srv:
            yield srv.url, srv.token
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture()
def ls_env(labelstudio, monkeypatch):
    """The session's Label Studio configured for allabel (URL and token in the environment), as
    an SDK client for the test to look at what push made."""
    from label_studio_sdk import LabelStudio

    url, token = labelstudio
    monkeypatch.setenv("ALLABEL_LABELSTUDIO_URL", url)
    monkeypatch.setenv("ALLABEL_LABELSTUDIO_API_KEY", token)
    get_settings.cache_clear()
    yield LabelStudio(base_url=url, api_key=token)
    get_settings.cache_clear()


@pytest.fixture()
def corpus(db_url, tmp_path, monkeypatch):
    """The small embedded bc5cdr sample (tests/select_fixtures.py) in the test's database, answers
    capped at 24 tokens so stage 3 stays fast."""
    from tests.select_fixtures import small_corpus

    monkeypatch.setenv("ALLABEL_LLM_MAX_TOKENS", "24")
    get_settings.cache_clear()
    small_corpus(tmp_path)
    yield
    get_settings.cache_clear()
