"""Runs allabel/sql/migrations/015_ingest_fast.sql: a cheaper BM25 step for ingest (postings gathered per lexeme,
no join or sort of the postings rows)."""

from allabel.store.migrate import run_sql_file

revision = "0015_ingest_fast"
down_revision = "0014_ingest_staging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("015_ingest_fast.sql")
