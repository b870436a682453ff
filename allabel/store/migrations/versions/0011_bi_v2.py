"""Runs allabel/sql/migrations/011_bi_v2.sql (BI views with ids and sentence text, unquoted column names, the latest
LLM run per dataset and split, column comments, bi.bm25() for the reader role) and
allabel/sql/migrations/011b_labelstudio.sql (the Label Studio project each run was pushed to)."""

from allabel.store.migrate import run_sql_file

revision = "0011_bi_v2"
down_revision = "0009_llm_endpoints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("011_bi_v2.sql")
    run_sql_file("011b_labelstudio.sql")
