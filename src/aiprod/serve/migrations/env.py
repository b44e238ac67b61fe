"""Alembic environment: migrations run on the URL `aiprod db upgrade` passes in.

A transaction-scoped advisory lock serialises concurrent upgrades (an API and its workers
starting together), so each revision is applied once.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from aiprod.serve.tables import Base

MIGRATION_LOCK = 7_311_2024  # any constant: the advisory lock's id


def run_online() -> None:
    engine = create_engine(
        context.config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
            context.run_migrations()


def run_offline() -> None:
    """`--sql`: the DDL as a script, for a DBA to read or apply."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
