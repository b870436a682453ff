"""Runs allabel/sql/migrations/017_bm25_tie_order.sql: BM25 ranks by the score rounded to float4, then sentence id,
so tied sentences (repeated text) come back in id order whatever the float8 summation order."""

from allabel.store.migrate import run_sql_file

revision = "0017_bm25_tie_order"
down_revision = "0016_predict_worklist"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("017_bm25_tie_order.sql")
