"""Migrations: up from empty, repeated (no-op), and the resulting schema is usable."""

import psycopg

from allabel.store import migrate
from tests.conftest import fresh_empty_db


def test_upgrade_from_empty_then_repeat(pg_server):
    url = fresh_empty_db(pg_server)
    assert migrate.current(url) is None
    migrate.upgrade(url)
    head = migrate.current(url)
    assert head is not None
    with psycopg.connect(url) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'allabel'")}
        n_before = conn.execute("SELECT count(*) FROM pg_class").fetchone()[0]
    assert {"datasets", "sentences", "entities", "embeddings", "bm25_lexemes", "runs",
            "llm_calls", "predictions", "evaluations"} <= tables
    migrate.upgrade(url)  # repeat: nothing changes
    assert migrate.current(url) == head
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_class").fetchone()[0] == n_before
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname='vector'").fetchone()
    assert ext is not None


def test_init_command_is_idempotent(cli):
    code, out, _ = cli("init")
    assert code == 0 and "up to date" in out
    code, out, _ = cli("init")
    assert code == 0 and "up to date" in out
