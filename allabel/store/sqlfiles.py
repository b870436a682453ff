"""Load SQL from ``sql/``: DDL files for migrations and named queries for the Python jobs.

Named query files (``allabel/sql/queries/<module>.sql``) hold blocks introduced by ``-- name: <name>``;
``queries("ingest").insert_sentence`` returns that block's text. Keeping SQL in files lets a
reader (or a DBA) see every statement the product runs in one place.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def sql_path(name: str) -> Path:
    return SQL_DIR / name


def read_sql(name: str) -> str:
    return sql_path(name).read_text(encoding="utf-8")


class Queries:
    def __init__(self, module: str, blocks: dict[str, str]):
        self._module, self._blocks = module, blocks

    def __getattr__(self, name: str) -> str:
        try:
            return self._blocks[name]
        except KeyError:
            raise AttributeError(f"no query {name!r} in allabel/sql/queries/{self._module}.sql") from None

    def names(self) -> list[str]:
        return list(self._blocks)


@cache
def queries(module: str) -> Queries:
    text = read_sql(f"queries/{module}.sql")
    parts = _NAME.split(text)
    blocks = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}
    return Queries(module, blocks)
