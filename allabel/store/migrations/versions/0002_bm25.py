"""Runs allabel/sql/migrations/002_bm25.sql."""

from allabel.store.migrate import run_sql_file

revision = "0002_bm25"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("002_bm25.sql")
