"""Test fixtures: one real embedded Postgres (with pgvector) for the whole session.

The schema is migrated once into a template database; every test that asks for ``db_url`` gets a
fresh database cloned from it (``CREATE DATABASE ... TEMPLATE``, ~50 ms), so tests are isolated
and never see each other's rows. ``DATABASE_URL`` is pointed at that database so the CLI and the
library code under test use it.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from allabel import migrate, server
from allabel.config import get_settings

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
def pg_home() -> Path:
    # keep the datadir out of private homes: the wheel chmods o+rx on every parent as root
    return Path(tempfile.mkdtemp(prefix="allabel-test-", dir="/tmp"))


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
    from allabel import db

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


# --- a real Label Studio, started once per test session (only when a test asks for it) -------
LABELSTUDIO = REPO / ".venv-labelstudio" / "bin" / "label-studio"
LS_USER, LS_TOKEN = "test@allabel.local", "allabel-test-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory: pytest.TempPathFactory):
    """(url, token) of a Label Studio server from .venv-labelstudio (made by ./scripts/setup) with
    a throw-away data directory, a preset user and legacy token, and no update check, analytics
    or error reporting (nothing goes to the network)."""
    if not LABELSTUDIO.exists():
        pytest.fail(f"{LABELSTUDIO} is missing: run ./scripts/setup (it makes .venv-labelstudio)")
    data = tmp_path_factory.mktemp("labelstudio")
    port = _free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(data), "LANG": "C.UTF-8",
           "LABEL_STUDIO_BASE_DATA_DIR": str(data), "LABEL_STUDIO_USERNAME": LS_USER,
           "LABEL_STUDIO_PASSWORD": "allabel-test-password", "LABEL_STUDIO_USER_TOKEN": LS_TOKEN,
           "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true", "LATEST_VERSION_CHECK": "false",
           "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
           "SECRET_KEY": "allabel-tests-only", "OMP_NUM_THREADS": "1"}
    log = (data / "server.log").open("wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(LABELSTUDIO), "start", "--data-dir", str(data / "data"), "--no-browser",
         "--internal-host", "127.0.0.1", "-p", str(port), "--enable-legacy-api-token"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                tail = (data / "server.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"Label Studio exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - t0 > 300:
                pytest.fail("Label Studio did not answer /health within 300 s")
            time.sleep(0.5)
        (data / "startup_seconds").write_text(f"{time.monotonic() - t0:.1f}\n")
        yield url, LS_TOKEN
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
