"""Runs allabel/sql/migrations/019_faults.sql: the reader role loses TEMP (revoked from PUBLIC on the database,
granted back to the migrating role) and CREATE on schema public."""

from allabel.store.migrate import run_sql_file

revision = "0019_faults"
down_revision = "0018_ingest_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("019_faults.sql")
