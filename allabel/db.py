"""Connections to Postgres: the configured ``DATABASE_URL`` or the embedded server.

Every connection gets ``search_path = allabel, public`` (our tables live in schema ``allabel``,
the ``vector`` extension in ``public``) and pgvector's type adapters.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import psycopg
from pgvector.psycopg import register_vector

from allabel import server
from allabel.config import Settings, get_settings
from allabel.errors import DatabaseError

_url_cache: dict[str, str] = {}


def redact(url: str) -> str:
    """The URL with any password replaced, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def database_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """``DATABASE_URL`` if set, else the embedded server's URI (started on demand)."""
    s = settings or get_settings()
    if s.database_url:
        return s.database_url
    key = str(s.home.resolve())
    if key not in _url_cache:
        if not start:
            found = server.uri(s.home)
            if found is None:
                raise DatabaseError("the embedded server is not running (allabel db start)")
            return found
        _url_cache[key] = server.acquire(s.home)
    return _url_cache[key]


def connect(
    url: str | None = None, *, autocommit: bool = False, vector: bool = True
) -> psycopg.Connection:
    """Open a connection with our search_path; clear error if the server cannot be reached."""
    url = url or database_url()
    try:
        conn = psycopg.connect(
            url, autocommit=autocommit, options="-c search_path=allabel,public"
        )
    except psycopg.OperationalError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DatabaseError(f"cannot connect to {redact(url)}: {first}") from e
    if vector:
        try:
            register_vector(conn)
        except psycopg.ProgrammingError:
            # before `allabel init` the extension may not exist yet; migrations create it
            conn.rollback() if not autocommit else None
    return conn


@contextlib.contextmanager
def connection(url: str | None = None, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    conn = connect(url, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


def dataset_id(conn: psycopg.Connection, name: str) -> int:
    """Id of a dataset by name, or a clear error listing the known ones."""
    row = conn.execute("SELECT id FROM datasets WHERE name = %s", (name,)).fetchone()
    if row is None:
        known = [r[0] for r in conn.execute("SELECT name FROM datasets ORDER BY name")]
        raise DatabaseError(
            f"unknown dataset {name!r}; known: {', '.join(known) if known else '(none; ingest first)'}"
        )
    return row[0]
