"""The schema: a new database is created from the current schema, an existing one upgraded.

The current schema lives in one place, ``allabel/sql/schema/*.sql`` (run in name order); the
Alembic revisions in ``allabel/store/migrations/versions`` execute the deltas in
``allabel/sql/migrations/`` and upgrade a database made by an earlier release. ``allabel init``
does whichever applies; repeating it is a no-op. A database created from the schema is stamped
at the head revision, so later releases upgrade it like any other; tests/test_schema.py checks
that both ways give the same database. Runs from Python with no alembic.ini.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command, op
from alembic.config import Config
from alembic.script import ScriptDirectory

from allabel.core.errors import DatabaseError
from allabel.store.db import one
from allabel.store.sqlfiles import SQL_DIR, queries, read_sql

Q = queries("migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"  # Alembic env and revisions


def sqlalchemy_url(url: str) -> str:
    """postgresql://... -> postgresql+psycopg://... (SQLAlchemy's psycopg 3 dialect)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def schema_files() -> list[str]:
    """The current schema's files, in the order they run (their names start with a number)."""
    return sorted(p.name for p in (SQL_DIR / "schema").iterdir() if p.name.endswith(".sql"))


def run_sql_file(name: str) -> None:
    """Execute one migration delta (``allabel/sql/migrations/NAME``) inside the current revision."""
    _execute_raw(read_sql(f"migrations/{name}"))


def _execute_raw(sql: str) -> None:
    """Send the file as-is to the driver: no bind-parameter parsing of ':' or '%'."""
    op.get_bind().connection.driver_connection.execute(sql)


def run_sql_file_autocommit(name: str) -> None:
    """Execute a delta whose statements cannot run in a transaction (CREATE INDEX CONCURRENTLY)."""
    with op.get_context().autocommit_block():
        _execute_raw(read_sql(f"migrations/{name}"))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def require_extension(url: str, name: str = "vector") -> None:
    """A clear error when the server cannot provide an extension we need (before migrating)."""
    with psycopg.connect(url) as conn:
        ok = conn.execute(Q.extension_available, {"name": name}).fetchone()
    if ok is None:
        raise DatabaseError(f"the Postgres server has no {name!r} extension available: install "
                            f"pgvector on it (package postgresql-NN-pgvector) or use the embedded "
                            f"server (unset DATABASE_URL)")


def require_installed(url: str, name: str = "vector") -> None:
    """After migrating: a clear error when the extension did not end up installed."""
    with psycopg.connect(url) as conn:
        ok = conn.execute(Q.extension_installed, {"name": name}).fetchone()
    if ok is None:
        raise DatabaseError(f"the {name} extension is missing (CREATE EXTENSION {name})")


def create_from_schema(url: str) -> None:
    """A new database: every schema file in one transaction, then stamped at the head revision."""
    with psycopg.connect(url) as conn:
        for name in schema_files():
            conn.execute(read_sql(f"schema/{name}"))
    command.stamp(alembic_config(url), "head")


def upgrade(url: str, revision: str = "head", from_schema: bool = True) -> None:
    """Bring the database to ``revision``: created from the current schema when it has none yet
    (``from_schema``, the head only), else upgraded by the migration deltas."""
    require_extension(url)
    if from_schema and revision == "head" and current(url) is None and not _has_schema(url):
        create_from_schema(url)
        return
    command.upgrade(alembic_config(url), revision)


def _has_schema(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return bool(one(conn, Q.schema_exists)["exists"])


def alembic_head() -> str:
    """The newest revision (what ``allabel init`` brings a database to)."""
    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def current(url: str) -> str | None:
    """The revision the database is at (None before ``allabel init``)."""
    with psycopg.connect(url) as conn:
        if one(conn, Q.version_table)["version_table"] is None:
            return None
        row = one(conn, Q.version)
        return row["version_num"] if row else None
