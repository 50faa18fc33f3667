"""Alembic environment: runs on the connection that ``dataspace.store.db.migrate`` hands in.

There is no ``alembic.ini`` and no offline (SQL script) mode: the schema is always upgraded
programmatically, in the transaction ``migrate`` opened, so a failed upgrade leaves nothing.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from dataspace.store.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "These migrations run only through dataspace.store.db.migrate(url), "
        "which passes a connection; do not run them with the alembic command."
    )
run_migrations(connection)
