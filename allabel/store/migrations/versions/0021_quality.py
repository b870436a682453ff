"""Runs allabel/sql/migrations/021_quality.sql: audit and review picks (selection stages), quality estimates,
calibrated confidences, and the BI views bi.quality and bi.current_mentions."""

from allabel.store.migrate import run_sql_file

revision = "0021_quality"
down_revision = "0020_first_month"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("021_quality.sql")
