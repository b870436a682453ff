"""Connections to Postgres: the configured ``DATABASE_URL`` or the embedded server.

Every connection gets ``search_path = allabel, public`` (our tables live in schema ``allabel``,
the ``vector`` extension in ``public``) and pgvector's type adapters.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import dict_row
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from allabel.core.config import Settings, get_settings
from allabel.core.errors import DatabaseError, DatabaseUnavailable
from allabel.core.secrets import mask
from allabel.store import server
from allabel.store.sqlfiles import queries

Q = queries("db")

_url_cache: dict[str, str] = {}
T = TypeVar("T")

# SQLSTATEs after which the same unit of work can simply be run again on a new connection:
# connection exceptions, the server shutting down / crashing / starting up, serialization and
# deadlock aborts. Anything else (a constraint, a syntax error, a statement timeout) is not retried.
_TRANSIENT = {"57P01", "57P02", "57P03", "40001", "40P01", "53300"}
# connect() failures that no amount of waiting fixes
_PERMANENT_CONNECT = ("password authentication failed", "does not exist", "no pg_hba.conf entry",
                      "invalid connection option", "invalid dsn", "invalid uri", "invalid integer")


def redact(url: str) -> str:
    """The URL with any password replaced, for messages."""
    return mask(url) or url


def is_transient(e: BaseException) -> bool:
    """Is ``e`` a lost or not-yet-available server (worth reconnecting and retrying)?"""
    if isinstance(e, DatabaseUnavailable):
        return True
    if isinstance(e, psycopg.OperationalError):
        state = getattr(e, "sqlstate", None)
        return state is None or state.startswith("08") or state in _TRANSIENT
    if isinstance(e, psycopg.InterfaceError):  # "the connection is closed" after a loss
        return "closed" in str(e) or "lost" in str(e)
    return False


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def retrying(fn: Callable[[], T], on_retry: Callable[[], Any] | None = None,
             what: str = "the job") -> T:
    """Run ``fn`` under the one database retry policy of allabel.

    ``fn`` must be a unit of work that is safe to run again (a batch whose transaction rolled
    back, a connection attempt, a stage that re-reads what is committed). While the server is
    unreachable, restarting or starting up, ``on_retry`` is called (drop broken connections) and
    ``fn`` is run again after an exponential backoff, up to ``db_retries`` attempts and
    ``db_retry_seconds`` in total. Final failure: ``DatabaseError`` with one line (exit code 4).
    """
    s = get_settings()
    t0 = time.monotonic()
    attempts = 0

    def before_sleep(_state: Any) -> None:
        if on_retry is not None:
            on_retry()

    def call() -> T:
        nonlocal attempts
        attempts += 1
        return fn()

    try:
        return Retrying(retry=retry_if_exception(is_transient),
                        stop=stop_after_attempt(s.db_retries + 1) | stop_after_delay(s.db_retry_seconds),
                        wait=wait_exponential(multiplier=s.db_retry_backoff, max=5),
                        before_sleep=before_sleep, reraise=True)(call)
    except (psycopg.OperationalError, psycopg.InterfaceError, DatabaseUnavailable) as e:
        if not is_transient(e):
            raise
        if on_retry is not None:
            on_retry()
        raise DatabaseError(f"the database did not answer: gave up after {attempts} attempts in "
                            f"{time.monotonic() - t0:.0f} s ({_first_line(e)}); work finished so "
                            f"far is saved, run the same command again to continue") from None


class Link:
    """One connection that is re-opened under the retry policy when it breaks.

    ``run(fn)`` calls ``fn(conn)``; on a lost server the connection is dropped and ``fn`` runs
    again on a new one. ``on_connect(conn)`` re-establishes session state (advisory locks)."""

    def __init__(self, url: str | None = None, *, autocommit: bool = True, vector: bool = True,
                 on_connect: Callable[[psycopg.Connection], Any] | None = None):
        self.url, self.autocommit, self.vector, self.on_connect = url, autocommit, vector, on_connect
        self._conn: psycopg.Connection | None = None

    def get(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conn = connect(self.url, autocommit=self.autocommit, vector=self.vector)
            try:
                if self.on_connect is not None:
                    self.on_connect(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close
                pass
        self._conn = None

    def run(self, fn: Callable[[psycopg.Connection], T], what: str = "the job") -> T:
        return retrying(lambda: fn(self.get()), on_retry=self.reset, what=what)

    def close(self, last: Callable[[psycopg.Connection], Any] | None = None) -> None:
        """Close; ``last(conn)`` first when the connection is open (release session locks
        synchronously: a closed session's locks stay visible until its backend has exited)."""
        if last is not None and self._conn is not None and not self._conn.closed:
            with contextlib.suppress(Exception):
                last(self._conn)
        self.reset()


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
            url, autocommit=autocommit, options="-c search_path=allabel,public",
            connect_timeout=10,
        )
    except psycopg.OperationalError as e:
        first = _first_line(e)
        err = DatabaseError if any(p in first for p in _PERMANENT_CONNECT) else DatabaseUnavailable
        raise err(f"cannot connect to {redact(url)}: {first}") from e
    if vector:
        try:
            register_vector(conn)
        except psycopg.ProgrammingError:
            # before `allabel init` the extension may not exist yet; migrations create it
            conn.rollback() if not autocommit else None
    return conn


def connect_retrying(url: str | None = None, *, autocommit: bool = False,
                     vector: bool = True) -> psycopg.Connection:
    """``connect`` that waits (under the retry policy) for a server that is down or starting."""
    return retrying(lambda: connect(url, autocommit=autocommit, vector=vector))


@contextlib.contextmanager
def connection(url: str | None = None, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    conn = connect_retrying(url, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


def rows(conn: psycopg.Connection, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """All rows of a named query as dicts keyed by column name (a reader sees which column is
    used, and adding a column to the query moves nothing)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def one(conn: psycopg.Connection, query: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The first row of a query as a dict keyed by column name, or None when there is none."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchone()


def scalar(conn: psycopg.Connection, query: str, params: dict[str, Any] | None = None) -> Any:
    """The single value of a one-column query (a COUNT, an id), or None when there is no row."""
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def run_statement(statement: str, url: str | None = None) -> tuple[list[str], list[tuple], str | None]:
    """``allabel sql``: run one statement a person typed and commit; (column names, rows, the
    server's status message). A failing statement is one line with the server's message."""
    with connection(url) as conn:
        try:
            cur = conn.execute(statement)
        except psycopg.Error as e:
            raise DatabaseError(str(e).strip()) from e
        rows = cur.fetchall() if cur.description else []
        cols = [c.name for c in cur.description] if cur.description else []
        status = cur.statusmessage
        conn.commit()
    return cols, rows, status


def dataset_id(conn: psycopg.Connection, name: str) -> int:
    """Id of a dataset by name, or a clear error listing the known ones."""
    found = one(conn, Q.dataset_id, {"name": name})
    if found is None:
        known = [r["name"] for r in rows(conn, Q.dataset_names)]
        raise DatabaseError(
            f"unknown dataset {name!r}; known: {', '.join(known) if known else '(none; ingest first)'}"
        )
    return found["id"]
