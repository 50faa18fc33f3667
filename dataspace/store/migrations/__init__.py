"""Alembic migrations of the control-plane schema, run by ``dataspace.store.db.migrate``."""
