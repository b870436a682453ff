"""Runs allabel/sql/migrations/009_llm_endpoints.sql: endpoint capabilities, batch jobs, known-perplexity share."""

from allabel.store.migrate import run_sql_file

revision = "0009_llm_endpoints"
down_revision = "0007_bi"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("009_llm_endpoints.sql")
