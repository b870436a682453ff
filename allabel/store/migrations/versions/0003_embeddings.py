"""Runs allabel/sql/migrations/003_embeddings.sql."""

from allabel.store.migrate import run_sql_file, run_sql_file_autocommit

revision = "0003_embeddings"
down_revision = "0002_bm25"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("003_embeddings.sql")
    run_sql_file_autocommit("003b_embeddings_hnsw.sql")
