"""Public data is released only with the authorized-operation path's authorization, and its
desensitization report sits beside the release, hashed in the ledger and read only by its
authority, the operator and the operators that received it (real S3, both databases)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dataspace.config import Settings
from dataspace.controlplane import ledger, public_releases, releases
from dataspace.controlplane.public_releases import PublicReleaseAuthorization
from dataspace.errors import Conflict, InvalidInput, Refused, Unauthorized
from dataspace.ledger.chain import payload_hash
from dataspace.store.models import LedgerEntryRow, PublicDesensitizationRow, ReleaseRow
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.worlds.public_data_world import AUTHORITY
from tests.worlds.public_release_world import (
    LICENSED,
    SUPPLIER,
    UNLICENSED,
    PublicReleaseWorld,
    make_public_release_world,
)
from tests.worlds.publish_world import list_keys

pytestmark = pytest.mark.integration


@pytest.fixture
def world(space: Space, stack_settings: Settings, unique: str) -> PublicReleaseWorld:
    return make_public_release_world(space, stack_settings, unique)


def objects(world: PublicReleaseWorld) -> list[str]:
    with world.node() as node:
        return list_keys(node.release_store(), f"{world.product}/")


def releases_of(world: PublicReleaseWorld) -> list[ReleaseRow]:
    with world.space.db.transaction() as session:
        query = select(ReleaseRow).where(ReleaseRow.product_id == world.product)
        return list(session.scalars(query))


def test_a_public_data_product_is_not_published_without_an_authorization(
    world: PublicReleaseWorld, tmp_path: Path
) -> None:
    path = world.desensitized(tmp_path / "energy.parquet")
    with pytest.raises(
        Refused, match="authorized-operation path: `dataspace application release APP`"
    ):
        world.publish(path, None)

    assert releases_of(world) == []
    assert objects(world) == []
    assert "release.published" not in world.space.actions()


def test_an_authorized_release_keeps_its_report_beside_it_hashed_in_the_ledger(
    world: PublicReleaseWorld, tmp_path: Path
) -> None:
    path = world.desensitized(tmp_path / "energy.parquet")
    authorization = world.desensitize(path)

    summary = world.publish(path, authorization)

    assert (summary.status, [d.subscriber for d in summary.delivered]) == ("accepted", [LICENSED])
    with world.node() as node:
        store = node.release_store()
        with store.open_input(f"{world.product}/1/desensitization-report.json") as source:
            stored = source.read()
        with store.open_input(f"{world.product}/1/desensitization-report.html") as source:
            page = source.read().decode()
    with world.space.db.transaction() as session:
        row = session.get(PublicDesensitizationRow, authorization.desensitization_id)
        assert row is not None
        assert (row.release_version, row.report_sha256) == (1, hashlib.sha256(stored).hexdigest())
        published = session.scalar(
            select(LedgerEntryRow).where(LedgerEntryRow.action == "release.published")
        )
    assert json.loads(stored) == world.report(path)
    assert published is not None
    assert published.payload_hash == payload_hash(published_facts(world, summary, row))
    assert "&lt;script&gt;" in page
    assert "<script>" not in page
    assert ledger.verify(world.space.db).ok


def published_facts(
    world: PublicReleaseWorld, summary: object, row: PublicDesensitizationRow
) -> dict[str, object]:
    release = releases_of(world)[0]
    return {
        "provider_id": AUTHORITY, "product_id": world.product, "version": 1, "mode": "snapshot",
        "sha256": release.sha256, "row_count": release.row_count, "byte_size": release.byte_size,
        "delivery_count": 1, "objectKey": release.object_key,
        "desensitization_id": row.id, "desensitization_report_sha256": row.report_sha256,
    }  # fmt: skip


def test_an_authorization_publishes_one_release_of_the_file_it_desensitized(
    world: PublicReleaseWorld, tmp_path: Path
) -> None:
    path = world.desensitized(tmp_path / "energy.parquet")
    authorization = world.desensitize(path)
    other = world.desensitized(tmp_path / "other.parquet", enterprises=11)

    with pytest.raises(Refused, match="is not the one desensitized"):
        world.publish(other, authorization)
    forged = PublicReleaseAuthorization(authorization.desensitization_id, "0" * 64)
    with pytest.raises(Refused, match="is of another file"):
        world.publish(path, forged)
    assert (releases_of(world), objects(world)) == ([], [])

    world.publish(path, authorization)
    with pytest.raises(Conflict, match="already released as version 1"):
        world.publish(path, authorization)
    assert len(releases_of(world)) == 1


def test_an_authorization_of_another_product_or_for_a_product_that_is_not_public_is_refused(
    world: PublicReleaseWorld, space: Space, stack_settings: Settings, unique: str, tmp_path: Path
) -> None:
    path = world.desensitized(tmp_path / "energy.parquet")
    authorization = world.desensitize(path)
    second = make_second_product(space, unique)

    with pytest.raises(Refused, match=f"is for '{world.product}', not '{second}'"):
        releases.plan_release(
            space.db, space.keys, product=second, provider=AUTHORITY, mode="snapshot",
            now=utcnow(), authorization=authorization,
        )  # fmt: skip
    space.product(f"po-{unique}", owner=UNLICENSED)
    with pytest.raises(InvalidInput, match="is not a public-data product"):
        releases.plan_release(
            space.db, space.keys, product=f"po-{unique}", provider=UNLICENSED, mode="snapshot",
            now=utcnow(), authorization=authorization,
        )  # fmt: skip


def make_second_product(space: Space, unique: str) -> str:
    from tests.worlds.public_data_world import OPERATOR_OFFER, SCHEMA  # noqa: PLC0415

    product = f"energy2-{unique}"
    space.product(product, owner=AUTHORITY, schema=SCHEMA, offers=(OPERATOR_OFFER,))
    return product


def test_an_application_whose_term_ended_releases_nothing(
    space: Space, stack_settings: Settings, unique: str, tmp_path: Path
) -> None:
    world = make_public_release_world(space, stack_settings, unique, term=timedelta(hours=1))
    path = world.desensitized(tmp_path / "energy.parquet")
    authorization = world.desensitize(path)

    with pytest.raises(Refused, match="not now; nothing is released"):
        world.publish(path, authorization, now=utcnow() + timedelta(hours=2))
    assert (releases_of(world), objects(world)) == ([], [])


def test_a_quarantined_release_removes_its_report_and_leaves_the_authorization_unused(
    world: PublicReleaseWorld, tmp_path: Path
) -> None:
    path = world.desensitized(tmp_path / "energy.parquet", so2=-1.0)
    authorization = world.desensitize(path)

    first = world.publish(path, authorization)
    again = world.publish(path, authorization)

    assert (first.status, again.status, again.version) == ("quarantined", "quarantined", 2)
    assert not [key for key in objects(world) if "desensitization-report" in key]
    with world.space.db.transaction() as session:
        row = session.get(PublicDesensitizationRow, authorization.desensitization_id)
        assert row is not None
        assert row.release_version is None


def test_the_report_is_read_by_the_authority_the_operator_and_the_operators_that_received_it(
    world: PublicReleaseWorld, tmp_path: Path
) -> None:
    path = world.desensitized(tmp_path / "energy.parquet")
    world.publish(path, world.desensitize(path))
    db = world.space.db

    for reader in (AUTHORITY, "operator", LICENSED):
        found = public_releases.report_of(db, reader, world.product, 1)
        assert (found["report"], found["ledger_matches"]) == (world.report(path), True)
        assert found["report_sha256_matches"]
        assert [r["version"] for r in public_releases.list_reports(db, reader, world.product)] == [
            1
        ]
    for stranger in (UNLICENSED, SUPPLIER):
        with pytest.raises(Unauthorized, match="read its desensitization report"):
            public_releases.report_of(db, stranger, world.product, 1)
        assert public_releases.list_reports(db, stranger, world.product) == []


def test_a_report_changed_after_it_was_recorded_no_longer_matches_its_hash(
    world: PublicReleaseWorld, tmp_path: Path
) -> None:
    path = world.desensitized(tmp_path / "energy.parquet")
    authorization = world.desensitize(path)
    world.publish(path, authorization)
    with world.space.db.transaction() as session:
        row = session.get(PublicDesensitizationRow, authorization.desensitization_id)
        assert row is not None
        row.report = row.report.replace('"k":5', '"k":2')

    found = public_releases.report_of(world.space.db, AUTHORITY, world.product, 1)

    assert (found["report_sha256_matches"], found["ledger_matches"]) == (False, False)


def test_a_desensitization_is_recorded_once_for_an_approved_application_and_its_own_file(
    world: PublicReleaseWorld, tmp_path: Path
) -> None:
    path = world.desensitized(tmp_path / "energy.parquet")
    first = world.desensitize(path)
    again = world.desensitize(path)
    assert again == first
    assert world.space.actions().count("public_release.desensitized") == 1
    with world.space.db.transaction() as session:
        row = session.get(PublicDesensitizationRow, first.desensitization_id)
        assert row is not None
        entry = session.scalar(
            select(LedgerEntryRow).where(LedgerEntryRow.action == "public_release.desensitized")
        )
        assert entry is not None
        assert entry.payload_hash == payload_hash(public_releases.facts_of(row))
    assert public_releases.facts_of(row)["k"] == 5

    wrong = {**world.report(path), "product_id": "another-product"}
    with pytest.raises(InvalidInput, match="report's product_id is 'another-product'"):
        public_releases.record_desensitization(
            world.space.db, world.space.keys, application=world.application, report=wrong,
            desensitized_sha256=first.desensitized_sha256,
        )  # fmt: skip
    pending = world.apply(UNLICENSED)
    with pytest.raises(Refused, match="is pending, so nothing is released"):
        public_releases.record_desensitization(
            world.space.db, world.space.keys, application=pending, report=world.report(path),
            desensitized_sha256=first.desensitized_sha256,
        )  # fmt: skip
