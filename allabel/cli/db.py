"""``allabel init``, ``allabel db start|stop|status|url`` and ``allabel sql``."""

from __future__ import annotations

import csv
import sys
import time

import typer

from allabel.core.config import get_settings
from allabel.core.errors import ConfigError, DatabaseError
from allabel.store import db as dbmod
from allabel.store import listen as exposure
from allabel.store import migrate, server
from allabel.store.roles import reader_url

NOT_RUNNING = 7  # `db status` only: an answer, not an error (LSB's "not running" is 3, our usage code)

db_app = typer.Typer(help="Manage the embedded Postgres server.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command("init", help="Create or upgrade the schema (Alembic to head). Safe to repeat.")(init)
    app.command("sql", help="Run SQL and print the rows.")(sql)


def _require_embedded() -> None:
    if get_settings().database_url:
        raise ConfigError("DATABASE_URL is set: the embedded server is not used")


def init() -> None:
    url = dbmod.database_url()
    before = migrate.current(url)
    migrate.upgrade(url)
    after = migrate.current(url)
    migrate.require_installed(url)
    if before == after:
        typer.echo(f"schema up to date ({after})")
    else:
        typer.echo(f"schema upgraded {before or 'empty'} -> {after}")


@db_app.command("start")
def start(
    listen: str | None = typer.Option(
        None, "--listen", metavar="HOST:PORT",
        help="Also accept TCP connections on HOST:PORT with a generated password (kept in the "
             "home, owner-only; `db url` prints the URI). Remembered for later starts; "
             "'off' goes back to the Unix socket only."),
) -> None:
    """Start the embedded server and keep it running in the background (idempotent)."""
    _require_embedded()
    home = get_settings().home
    if listen is not None and listen.lower() == "off":
        exposure.unlisten(home)
        listen = None
    if listen is not None:
        host, port = server.parse_listen(listen)
        tcp = exposure.listen(home, host, port)
        typer.echo(f"listening on {host}:{port} (passwords in {home / exposure.PASSWORD_FILE} and "
                   f"{home / exposure.READER_PASSWORD_FILE}; `db url [--reader]` prints the URIs): "
                   f"{dbmod.redact(tcp or '')}")
        return
    url, started = server.ensure_running(home)
    typer.echo(("started: " if started else "already running: ") + url)


@db_app.command("stop")
def stop() -> None:
    """Stop the embedded server."""
    _require_embedded()
    typer.echo("stopped" if server.stop(get_settings().home) else "not running")


@db_app.command("status")
def status() -> None:
    """Is the embedded server running, kept by `db start`, and who holds it (exit 7: not running)."""
    s = get_settings()
    if s.database_url:
        typer.echo(f"external server: {dbmod.redact(s.database_url)}")
        return
    st = server.status(s.home)
    if not st.running:
        typer.echo(f"not running (datadir {st.datadir})")
        raise typer.Exit(NOT_RUNNING)
    typer.echo(f"running pid={st.pid} kept={st.kept} holders={st.holders} datadir={st.datadir}")
    typer.echo(server.uri(s.home) or "")


@db_app.command("url")
def url(
    reader: bool = typer.Option(False, "--reader", help="URI for the read-only BI role."),
) -> None:
    """Print a URI that psql, a BI tool or DuckDB can use (starts nothing); the TCP one, with
    its password, when the server was started with --listen."""
    s = get_settings()
    u = s.database_url or (server.uri(s.home) and (exposure.tcp_uri(s.home) or server.uri(s.home)))
    if u is None:
        raise DatabaseError("the embedded server is not running; run `allabel db start` first")
    if reader:

        # the TCP URI of `db start --listen` carries the reader's generated password
        tcp = None if s.database_url else exposure.reader_tcp_uri(s.home)
        u = tcp or reader_url(u)
    typer.echo(u)


def sql(
    statement: str = typer.Argument(..., help="SQL to run (one statement)."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV with a header, for scripts."),
) -> None:
    t0 = time.perf_counter()
    cols, rows, status_message = dbmod.run_statement(statement)
    if as_csv:
        w = csv.writer(sys.stdout)
        if cols:
            w.writerow(cols)
        w.writerows(rows)
        return
    if cols:
        widths = [max(len(c), *(len(_fmt(r[i])) for r in rows)) if rows else len(c)
                  for i, c in enumerate(cols)]
        typer.echo(" | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
        typer.echo("-+-".join("-" * w for w in widths))
        for r in rows:
            typer.echo(" | ".join(_fmt(v).ljust(w) for v, w in zip(r, widths, strict=True)))
        typer.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''}, "
                   f"{time.perf_counter() - t0:.3f} s)")
    else:
        typer.echo(status_message or "OK")


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
