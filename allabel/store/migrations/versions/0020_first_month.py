"""Runs allabel/sql/migrations/020_first_month.sql: bi.selection_summary names the default allabel+long, and stage
3's scratch answers no longer count as LLM mentions in bi.entity_mentions / bi.label_counts."""

from allabel.store.migrate import run_sql_file

revision = "0020_first_month"
down_revision = "0019_faults"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("020_first_month.sql")
