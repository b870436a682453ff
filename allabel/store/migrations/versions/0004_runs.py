"""Runs allabel/sql/migrations/004_runs.sql."""

from allabel.store.migrate import run_sql_file

revision = "0004_runs"
down_revision = "0003_embeddings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("004_runs.sql")
