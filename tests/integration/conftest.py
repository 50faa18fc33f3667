"""Databases for the control-plane contract tests: a SQLite file, or a fresh PostgreSQL schema.

Every test gets a database of its own (a file under its tmp_path, or a schema named
``t_<uuid>`` that is dropped afterwards), so tests can run in parallel and never see each
other's rows. The PostgreSQL variant runs when DATASPACE_TEST_POSTGRES_URL is set (CI sets it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from dataspace.store.db import Database, migrate

POSTGRES_URL_ENV = "DATASPACE_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of its own, on each database the store supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'control-plane.db'}"
        return
    base_url = os.environ.get(POSTGRES_URL_ENV)
    if not base_url:
        pytest.skip(
            f"set {POSTGRES_URL_ENV}=postgresql+psycopg2://postgres@127.0.0.1:5432/test "
            "to run the PostgreSQL variant"
        )
    yield from _fresh_schema(base_url)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database, closed after the test."""
    migrate(database_url)
    with Database(database_url) as database:
        yield database


def _fresh_schema(base_url: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        scoped = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
