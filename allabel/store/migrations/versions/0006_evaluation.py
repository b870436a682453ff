"""Runs allabel/sql/migrations/006_evaluation.sql."""

from allabel.store.migrate import run_sql_file

revision = "0006_evaluation"
down_revision = "0005_llm"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("006_evaluation.sql")
