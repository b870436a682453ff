"""Runs allabel/sql/migrations/016_predict_worklist.sql: the work list of sentences no prediction run has finished,
so that ``predict --new`` reads its new sentences instead of an anti-join over the split."""

from allabel.store.migrate import run_sql_file

revision = "0016_predict_worklist"
down_revision = "0015_ingest_fast"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("016_predict_worklist.sql")
