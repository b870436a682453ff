"""Runs allabel/sql/migrations/018_ingest_checks.sql: the per-command check of what an ingest's COPYs wrote, for
COPYs that run without the per-row foreign-key checks and statement triggers."""

from allabel.store.migrate import run_sql_file

revision = "0018_ingest_checks"
down_revision = "0017_bm25_tie_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("018_ingest_checks.sql")
