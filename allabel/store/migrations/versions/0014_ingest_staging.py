"""Runs allabel/sql/migrations/014_ingest_staging.sql: ingest maintains BM25 statistics and postings in one
set-based step per command (the per-statement trigger is skipped inside an ingest)."""

from allabel.store.migrate import run_sql_file

revision = "0014_ingest_staging"
down_revision = "0010_run_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("014_ingest_staging.sql")
