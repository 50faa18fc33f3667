"""Contract: the subscriber agent's ControlPlane port, in memory and over the real services.

Every test runs against :class:`~tests.fakes.control_plane.MemoryControlPlane` (what unit
tests use) and :class:`~dataspace.agent.control_plane.LocalControlPlane` over a real
control-plane database (SQLite, and PostgreSQL when DATASPACE_TEST_POSTGRES_URL is set) and
the stack's object store, so the fake cannot drift from what the agent meets for real.

A world publishes deliveries the way each side gets them: ``local`` through
:class:`tests.worlds.delivery_setup.Provider` (release object, delivery row, ledger entry),
``memory`` by writing the same release object to a local store and announcing it to the fake.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import pyarrow.parquet as pq
import pytest

from dataspace.adapters.s3 import presigner
from dataspace.agent.control_plane import ControlPlane, LocalControlPlane
from dataspace.config import Settings
from dataspace.controlplane import agreements, releases
from dataspace.controlplane.participants import party_signing_key
from dataspace.controlplane.read_models import DeliveryView
from dataspace.dataplane.download import url_opener
from dataspace.dataplane.layout import StoredObject
from dataspace.dataplane.release import write_release
from dataspace.errors import Conflict, InvalidInput, NotFound, Unauthorized
from dataspace.identity.keys import SigningKey, verify
from dataspace.store.types import utcnow
from tests.fakes.control_plane import MemoryControlPlane
from tests.fixtures.controlplane import Space
from tests.fixtures.databases import DATABASES, empty_database
from tests.worlds.dataplane_data import local_store, orders
from tests.worlds.delivery_setup import PRODUCT, PROVIDER, Provider, release_store

pytestmark = pytest.mark.integration

SUBSCRIBER = "supplier-01"  # the market fixture's supplier
OTHER = "supplier-02"
ROWS = 500


@dataclass(frozen=True)
class Facts:
    """What was delivered, as the provider knows it."""

    delivery_id: str
    agreement_id: str
    subscriber: str
    version: int
    stored: StoredObject


class World(Protocol):
    control: ControlPlane  # SUBSCRIBER's

    def agreement(self, subscriber: str = SUBSCRIBER) -> str: ...

    def deliver(self, agreement_id: str, version: int) -> Facts: ...

    def revoke(self, agreement_id: str) -> None: ...

    def signer(self) -> tuple[str, SigningKey]:
        """A participant and the key it signs with."""
        ...


class LocalWorld:
    def __init__(self, market: Space, settings: Settings, unique: str) -> None:
        store = release_store(settings, f"contract-{unique}")
        self._market, self._provider = market, Provider(market, store, None)
        presign = presigner(settings.s3(), store.bucket)
        self.control = LocalControlPlane(market.db, market.keys, presign, SUBSCRIBER)

    def agreement(self, subscriber: str = SUBSCRIBER) -> str:
        return self._provider.agreement(subscriber)

    def deliver(self, agreement_id: str, version: int) -> Facts:
        delivered = self._provider.publish(agreement_id, version, rows=ROWS, send=False)
        return Facts(
            delivered.delivery_id,
            delivered.agreement_id,
            delivered.subscriber,
            version,
            delivered.stored,
        )

    def revoke(self, agreement_id: str) -> None:
        market = self._market
        agreements.revoke(market.db, market.keys, actor=PROVIDER, agreement_id=agreement_id)

    def signer(self) -> tuple[str, SigningKey]:
        with self._market.db.transaction(read_only=True) as session:
            return PROVIDER, party_signing_key(session, self._market.keys, PROVIDER)


class MemoryWorld:
    def __init__(self, root: Path) -> None:
        self._root, self._store = root, local_store(root)
        self._key = SigningKey.generate()
        self._consumers: dict[str, str] = {}
        self.control = MemoryControlPlane(SUBSCRIBER)
        self.control.register(PROVIDER, self._key.public_key_b64)

    def agreement(self, subscriber: str = SUBSCRIBER) -> str:
        agreement_id = f"agr-{len(self._consumers) + 1:012x}"
        self._consumers[agreement_id] = subscriber
        return agreement_id

    def deliver(self, agreement_id: str, version: int) -> Facts:
        table = orders(ROWS, offset=version * 1000)  # what Provider.publish writes
        stored = write_release(self._store, PRODUCT, version, table.schema, table.to_batches())
        delivery_id = releases.delivery_id(agreement_id, version)
        subscriber = self._consumers[agreement_id]
        self.control.announce(
            delivery_id,
            stored,
            (self._root / self._store.path(stored.key)).as_uri(),
            agreement_id=agreement_id,
            product_id=PRODUCT,
            version=version,
            provider=PROVIDER,
            subscriber=subscriber,
        )
        return Facts(delivery_id, agreement_id, subscriber, version, stored)

    def revoke(self, agreement_id: str) -> None:
        self.control.end(agreement_id, "revoked")

    def signer(self) -> tuple[str, SigningKey]:
        return PROVIDER, self._key


@pytest.fixture(params=["memory", *DATABASES])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Here the contract runs once on the in-memory fake (no database: an empty URL) and on
    LocalControlPlane over each database the store supports."""
    if request.param == "memory":
        yield ""
        return
    yield from empty_database(request.param, tmp_path)


@pytest.fixture
def world(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> World:
    """SUBSCRIBER's control plane: the fake, or LocalControlPlane over ``database_url``."""
    if not database_url:
        return MemoryWorld(tmp_path / "objects")
    market: Space = request.getfixturevalue("market")
    settings: Settings = request.getfixturevalue("stack_settings")
    return LocalWorld(market, settings, request.getfixturevalue("unique"))


def due_ids(control: ControlPlane) -> list[str]:
    return [view.delivery_id for view in control.due()]


def announced(facts: Facts) -> DeliveryView:
    """The delivery as the control plane shows it before its receipt."""
    return DeliveryView(
        delivery_id=facts.delivery_id,
        agreement_id=facts.agreement_id,
        product_id=PRODUCT,
        version=facts.version,
        mode="snapshot",
        provider=PROVIDER,
        subscriber=facts.subscriber,
        sha256=facts.stored.sha256,
        rows=facts.stored.rows,
        bytes=facts.stored.bytes,
        state="announced",
        landed_at=None,
    )


def land(world: World, facts: Facts, *, sha256: str | None = None, rows: int | None = None) -> None:
    """SUBSCRIBER's receipt for ``facts``, naming what was delivered unless told otherwise."""
    world.control.receipt(
        facts.delivery_id,
        facts.stored.sha256 if sha256 is None else sha256,
        facts.stored.rows if rows is None else rows,
        utcnow(),
    )


def test_a_grant_describes_the_delivery_and_opens_its_object_for_minutes(world: World) -> None:
    facts = world.deliver(world.agreement(), 1)

    granted = world.control.grant(facts.delivery_id)

    assert (granted.delivery_id, granted.product_id, granted.version) == (
        facts.delivery_id,
        PRODUCT,
        1,
    )
    assert (granted.sha256, granted.rows, granted.bytes) == (
        facts.stored.sha256,
        facts.stored.rows,
        facts.stored.bytes,
    )
    assert timedelta(minutes=4) < granted.expires_at - utcnow() <= timedelta(minutes=5)
    with url_opener(granted.url)() as source:
        data = source.read()
    assert hashlib.sha256(data).hexdigest() == facts.stored.sha256
    assert pq.read_table(io.BytesIO(data)).num_rows == ROWS


def test_someone_elses_delivery_is_refused_like_a_missing_one(world: World) -> None:
    """Unauthorized alike, with one sentence, so a delivery id leaks nothing."""
    others = world.deliver(world.agreement(OTHER), 1)
    refusals = []
    for delivery_id in (others.delivery_id, "dlv-agr-000000000000-v1"):
        with pytest.raises(Unauthorized) as caught:
            world.control.grant(delivery_id)
        refusals.append(str(caught.value).replace(delivery_id, "ID"))
    assert refusals[0] == refusals[1]


def test_a_receipt_takes_the_delivery_off_the_due_list(world: World) -> None:
    facts = world.deliver(world.agreement(), 1)
    assert due_ids(world.control) == [facts.delivery_id]

    land(world, facts)

    assert due_ids(world.control) == []


def test_a_second_receipt_is_a_no_op(world: World) -> None:
    facts = world.deliver(world.agreement(), 1)
    land(world, facts)

    land(world, facts)

    assert due_ids(world.control) == []


@pytest.mark.parametrize("wrong", ["sha256", "rows", "malformed sha256"])
def test_a_receipt_naming_other_content_is_refused_and_the_delivery_stays_due(
    world: World, wrong: str
) -> None:
    facts = world.deliver(world.agreement(), 1)
    named = {
        "sha256": {"sha256": hashlib.sha256(b"other bytes").hexdigest()},
        "rows": {"rows": facts.stored.rows - 1},
        "malformed sha256": {"sha256": facts.stored.sha256.upper()},
    }[wrong]

    with pytest.raises(InvalidInput):
        land(world, facts, **named)  # type: ignore[arg-type]

    assert due_ids(world.control) == [facts.delivery_id]
    land(world, facts)  # the refusal left it to be landed again
    assert due_ids(world.control) == []


def test_a_receipt_for_someone_elses_or_no_delivery_is_unauthorized(world: World) -> None:
    others = world.deliver(world.agreement(OTHER), 1)
    missing = Facts("dlv-agr-000000000000-v1", "agr-000000000000", SUBSCRIBER, 1, others.stored)
    for facts in (others, missing):
        with pytest.raises(Unauthorized):
            land(world, facts)


def test_due_lists_the_subscribers_own_deliveries_oldest_first(world: World) -> None:
    agreement = world.agreement()
    first, second = world.deliver(agreement, 1), world.deliver(agreement, 2)
    world.deliver(world.agreement(OTHER), 1)

    due = world.control.due()

    assert due == [announced(first), announced(second)]


def test_a_revoked_agreement_refuses_the_grant_and_leaves_nothing_due(world: World) -> None:
    facts = world.deliver(world.agreement(), 1)
    kept = world.deliver(world.agreement(), 2)

    world.revoke(facts.agreement_id)

    with pytest.raises(Conflict, match="revoked"):
        world.control.grant(facts.delivery_id)
    assert due_ids(world.control) == [kept.delivery_id]
    assert world.control.grant(kept.delivery_id).delivery_id == kept.delivery_id


def test_the_public_key_of_a_participant_verifies_its_signatures(world: World) -> None:
    participant, key = world.signer()

    public_key = world.control.public_key_of(participant)

    verify(public_key, key.sign(b"contract"), b"contract")  # Unauthorized if it does not


def test_the_public_key_of_an_unknown_participant_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.control.public_key_of("nobody-known")
