"""Runs allabel/sql/migrations/022_rounds.sql: ``sentence_tokens`` (the annotation cost unit of token budgets and
``allabel rounds``) and ``experiment_rounds`` (``allabel experiment --rounds``)."""

from allabel.store.migrate import run_sql_file

revision = "0022_rounds"
down_revision = "0021_quality"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("022_rounds.sql")
