"""Contract: migrations build exactly the modelled schema, and times come back aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import StatementError

from dataspace.store.db import (
    HEAD_REVISION,
    MIGRATIONS_DIR,
    Database,
    alembic_config,
    migrate,
    schema_revisions,
)
from dataspace.store.models import Base, LedgerHeadRow, ParticipantRow
from tests.integration.store_rows import insert, participant

pytestmark = pytest.mark.integration

BEIJING = timezone(timedelta(hours=8))


def test_migrating_twice_is_a_no_op_at_head(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)

    with Database(database_url) as db, db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        tables = set(inspect(connection).get_table_names())
    with Database(database_url) as db, db.transaction() as session:
        head_rows = session.scalar(select(func.count()).select_from(LedgerHeadRow))
    assert current == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert head_rows == 1


def test_migrated_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_times_round_trip_as_aware_utc(db: Database) -> None:
    admitted = datetime(2026, 3, 1, 9, 30, tzinfo=BEIJING)
    with db.transaction() as session:
        row = participant()
        row.admitted_at = admitted
        session.add(row)

    with db.transaction() as session:
        stored = session.get(ParticipantRow, "acme")
        assert stored is not None
        assert stored.admitted_at == admitted
        assert stored.admitted_at.tzinfo == UTC
        assert stored.admitted_at.hour == 1  # 09:30 in Beijing is 01:30 UTC
        assert stored.created_at.tzinfo == UTC


def test_times_compare_correctly_in_queries(db: Database) -> None:
    with db.transaction() as session:
        row = participant()
        row.admitted_at = datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
        session.add(row)

    just_before = datetime(2026, 3, 1, 9, 29, tzinfo=BEIJING)
    with db.transaction() as session:
        later = session.scalars(
            select(ParticipantRow.id).where(ParticipantRow.admitted_at > just_before)
        ).all()
    assert later == ["acme"]


def test_a_naive_time_is_refused(db: Database) -> None:
    row = participant()
    row.admitted_at = datetime(2026, 3, 1, 9, 30)
    with pytest.raises(StatementError, match="has no timezone"):
        insert(db, row)

    with db.transaction() as session:
        assert session.get(ParticipantRow, "acme") is None


def test_an_up_to_date_database_is_not_migrated_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(database_url)
    upgrades = _spy_on_alembic_upgrades(monkeypatch)

    migrate(database_url)

    assert upgrades == []
    with Database(database_url) as db:
        assert schema_revisions(db) == (HEAD_REVISION,)


def test_a_new_and_an_old_database_are_migrated_to_head(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrades = _spy_on_alembic_upgrades(monkeypatch)
    migrate(database_url)  # new: no alembic_version table yet
    with Database(database_url) as db, db.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0004")
    with Database(database_url) as db:
        assert schema_revisions(db) == ("0004",)

    migrate(database_url)

    assert upgrades == ["head", "head"]
    with Database(database_url) as db:
        assert schema_revisions(db) == (HEAD_REVISION,)
        columns = {c["name"] for c in inspect(db.engine).get_columns("products")}
    assert "quality_checked_at" in columns  # added by 0005, dropped by the downgrade


def _spy_on_alembic_upgrades(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The target of every Alembic upgrade from now on (each still runs)."""
    targets: list[str] = []
    upgrade = command.upgrade

    def spy(config: Config, revision: str, **options: Any) -> None:
        targets.append(revision)
        upgrade(config, revision, **options)

    monkeypatch.setattr(command, "upgrade", spy)
    return targets
