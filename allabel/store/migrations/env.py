"""Alembic environment: raw SQL revisions, no ORM models.

The URL comes from the Alembic config (set by allabel.store.migrate) as a plain postgresql:// URI and is
turned into SQLAlchemy's psycopg dialect URI.
"""

from alembic import context
from sqlalchemy import create_engine, pool

from allabel.store.migrate import sqlalchemy_url

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(
        sqlalchemy_url(config.get_main_option("sqlalchemy.url")), poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, transactional_ddl=True, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
