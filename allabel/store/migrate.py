"""Schema migrations: Alembic revisions that execute the files in ``sql/``.

``allabel init`` upgrades to head; repeating it is a no-op. Runs from Python with no alembic.ini.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from allabel.store.sqlfiles import queries, read_sql

Q = queries("migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """postgresql://... -> postgresql+psycopg://... (SQLAlchemy's psycopg 3 dialect)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def run_sql_file(name: str) -> None:
    """Execute one file of ``sql/`` inside the current migration."""

    _execute_raw(read_sql(name))


def _execute_raw(sql: str) -> None:
    """Send the file as-is to the driver: no bind-parameter parsing of ':' or '%'."""
    from alembic import op

    op.get_bind().connection.driver_connection.execute(sql)


def run_sql_file_autocommit(name: str) -> None:
    """Execute a file whose statements cannot run in a transaction (CREATE INDEX CONCURRENTLY)."""
    from alembic import op

    with op.get_context().autocommit_block():
        _execute_raw(read_sql(name))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def require_extension(url: str, name: str = "vector") -> None:
    """A clear error when the server cannot provide an extension we need (before migrating)."""
    import psycopg

    from allabel.core.errors import DatabaseError

    with psycopg.connect(url) as conn:
        ok = conn.execute(Q.extension_available, {"name": name}).fetchone()
    if ok is None:
        raise DatabaseError(f"the Postgres server has no {name!r} extension available: install "
                            f"pgvector on it (package postgresql-NN-pgvector) or use the embedded "
                            f"server (unset DATABASE_URL)")


def require_installed(url: str, name: str = "vector") -> None:
    """After migrating: a clear error when the extension did not end up installed."""
    import psycopg

    from allabel.core.errors import DatabaseError

    with psycopg.connect(url) as conn:
        ok = conn.execute(Q.extension_installed, {"name": name}).fetchone()
    if ok is None:
        raise DatabaseError(f"the {name} extension is missing (CREATE EXTENSION {name})")


def upgrade(url: str, revision: str = "head") -> None:
    require_extension(url)
    command.upgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at (None before ``allabel init``)."""
    import psycopg

    from allabel.store.db import one

    with psycopg.connect(url) as conn:
        if one(conn, Q.version_table)["version_table"] is None:
            return None
        row = one(conn, Q.version)
        return row["version_num"] if row else None
