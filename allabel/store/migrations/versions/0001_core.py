"""Runs allabel/sql/migrations/001_core.sql."""

from allabel.store.migrate import run_sql_file

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("001_core.sql")
