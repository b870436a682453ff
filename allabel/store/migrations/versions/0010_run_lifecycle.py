"""Runs allabel/sql/migrations/010_run_lifecycle.sql: status `interrupted` and the runs.holder column."""

from allabel.store.migrate import run_sql_file

revision = "0010_run_lifecycle"
down_revision = "0012_bm25_postings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("010_run_lifecycle.sql")
