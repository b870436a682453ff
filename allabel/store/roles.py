"""The read-only BI role ``allabel_reader`` (created by the 0007 migration)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

READER = "allabel_reader"


def reader_url(url: str) -> str:
    """The same server and database, as the reader role. The embedded server trusts local
    sockets; on an external server give the role a password (ALTER ROLE allabel_reader
    PASSWORD '...') and add it to the URI yourself — it is never printed here."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(READER)}@{host}"))
