"""Runs allabel/sql/migrations/005_llm.sql."""

from allabel.store.migrate import run_sql_file

revision = "0005_llm"
down_revision = "0004_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("005_llm.sql")
