"""Runs allabel/sql/migrations/012_bm25_postings.sql: BM25 impact postings kept by ingest, searched with a MaxScore cut."""

from allabel.store.migrate import run_sql_file

revision = "0012_bm25_postings"
down_revision = "0011_bi_v2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("012_bm25_postings.sql")
