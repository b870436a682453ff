"""Runs allabel/sql/migrations/007_bi.sql: BI views and the read-only role."""

from allabel.store.migrate import run_sql_file

revision = "0007_bi"
down_revision = "0006_evaluation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("007_bi.sql")
