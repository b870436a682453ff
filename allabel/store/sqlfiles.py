"""Load SQL shipped inside the package (``allabel/sql/``): the current schema (``schema/``), the
migration deltas (``migrations/``) and the named queries of the Python jobs (``queries/``).

The files are package data read through ``importlib.resources``, so a wheel install finds them
as an editable checkout does. Named query files (``queries/<module>.sql``) hold blocks introduced
by ``-- name: <name>``; ``queries("ingest").insert_sentence`` returns that block's text. Keeping SQL in files lets a
reader (or a DBA) see every statement the product runs in one place. ``named_queries(path)``
reads a file of the same shape from anywhere (the scripts' own ``scripts/sql/<script>.sql``),
with the same parser.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

SQL_DIR = files("allabel") / "sql"
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def sql_path(name: str) -> Traversable:
    return SQL_DIR / name


def read_sql(name: str) -> str:
    return sql_path(name).read_text(encoding="utf-8")


class Queries:
    """The named blocks of one query file; ``where`` names the file in the error of a missing name."""

    def __init__(self, where: str, blocks: dict[str, str]):
        self._where, self._blocks = where, blocks

    def __getattr__(self, name: str) -> str:
        try:
            return self._blocks[name]
        except KeyError:
            raise AttributeError(f"no query {name!r} in {self._where}") from None

    def names(self) -> list[str]:
        return list(self._blocks)


def named_blocks(text: str) -> dict[str, str]:
    """``{name: statement}`` of a file's ``-- name: <name>`` blocks (text before the first is a
    header and belongs to no block)."""
    parts = _NAME.split(text)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def named_queries(path: Path | Traversable, where: str | None = None) -> Queries:
    """The named queries of a file at any path (the scripts keep theirs in ``scripts/sql/``)."""
    return Queries(where or str(path), named_blocks(path.read_text(encoding="utf-8")))


@cache
def queries(module: str) -> Queries:
    """The named queries of ``allabel/sql/queries/<module>.sql`` (package data)."""
    return named_queries(sql_path(f"queries/{module}.sql"), f"allabel/sql/queries/{module}.sql")
