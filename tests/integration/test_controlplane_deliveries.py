"""Contract: download grants, receipts and due deliveries, on SQLite and PostgreSQL."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event, select

from dataspace.adapters.s3 import presigner
from dataspace.agent.control_plane import LocalControlPlane
from dataspace.config import Settings
from dataspace.controlplane import (
    agreements,
    deliveries,
    ledger,
    participants,
    receipts,
    releases,
    reservations,
)
from dataspace.controlplane.acting import acting
from dataspace.controlplane.read_models import DeliveryView
from dataspace.controlplane.receipts import receipt_payload
from dataspace.errors import Conflict, InvalidInput, StoreBusy, Unauthorized
from dataspace.events.envelope import decode
from dataspace.identity import tokens
from dataspace.identity.acts import mint_act, recorded_act
from dataspace.identity.keys import SigningKey
from dataspace.store.db import Database
from dataspace.store.models import DeliveryRow, LedgerEntryRow, OutboxRow
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.helpers import wait_for
from tests.worlds.dataplane_data import local_store
from tests.worlds.delivery_setup import PROVIDER, Delivered, Provider, release_store

pytestmark = pytest.mark.integration

SUBSCRIBER = "supplier-01"


class FakePresign:
    """Records what was presigned; the URL carries the lifetime as S3 does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, timedelta]] = []

    def __call__(self, key: str, lifetime: timedelta) -> str:
        self.calls.append((key, lifetime))
        return f"https://store.test/{key}?X-Amz-Expires={int(lifetime.total_seconds())}"


@pytest.fixture
def provider(market: Space, tmp_path: Path) -> Provider:
    return Provider(market, local_store(tmp_path / "store"), None)


@pytest.fixture
def delivered(provider: Provider) -> Delivered:
    return provider.publish(provider.agreement(SUBSCRIBER), 1, send=False)


def token_of(space: Space, participant: str, **kwargs: object) -> str:
    with space.db.transaction() as session:
        key = participants.party_signing_key(session, space.keys, participant)
    return tokens.mint(participant, key, **kwargs)  # type: ignore[arg-type]


def ask(space: Space, delivered: Delivered, presign: FakePresign, **kwargs: object) -> object:
    arguments: dict[str, object] = {
        "subscriber": SUBSCRIBER,
        "delivery_id": delivered.delivery_id,
        "token": token_of(space, SUBSCRIBER),
        **kwargs,
    }
    return deliveries.grant(space.db, space.keys, presign, **arguments)  # type: ignore[arg-type]


def receive(
    db: Database,
    space: Space,
    delivered: Delivered,
    landed_at: datetime | None = None,
    **extra: object,
) -> DeliveryView:
    """SUBSCRIBER's receipt for ``delivered``, naming what was delivered (as its agent does)."""
    return receipts.receipt(
        db, space.keys, subscriber=SUBSCRIBER, delivery_id=delivered.delivery_id,
        sha256=delivered.stored.sha256, rows=delivered.stored.rows,
        landed_at=landed_at or utcnow(), **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_grant_is_a_url_for_the_delivered_object_valid_for_minutes(
    market: Space, delivered: Delivered
) -> None:
    presign = FakePresign()
    before = market.counts()

    granted = deliveries.grant(
        market.db,
        market.keys,
        presign,
        subscriber=SUBSCRIBER,
        delivery_id=delivered.delivery_id,
        token=token_of(market, SUBSCRIBER),
    )

    assert presign.calls == [(delivered.stored.key, timedelta(minutes=5))]
    assert granted.url.startswith("https://store.test/purchase-orders/1/part-0.parquet")
    assert (granted.sha256, granted.rows, granted.bytes) == (
        delivered.stored.sha256,
        delivered.stored.rows,
        delivered.stored.bytes,
    )
    assert (granted.product_id, granted.version) == ("purchase-orders", 1)
    assert timedelta(minutes=4) < granted.expires_at - utcnow() <= timedelta(minutes=5)
    assert "url" not in repr(granted)
    assert market.counts() == before  # a grant is a read: no ledger entry, no event


@contextmanager
def selects(db: Database) -> Iterator[list[str]]:
    """The SELECT statements sent to ``db`` inside the block."""
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_a_grant_reads_its_rows_in_a_few_statements(market: Space, delivered: Delivered) -> None:
    """Asked for by every subscriber of every release: its rows are selected together."""
    token = token_of(market, SUBSCRIBER)
    with selects(market.db) as sent:
        deliveries.grant(
            market.db,
            market.keys,
            FakePresign(),
            subscriber=SUBSCRIBER,
            delivery_id=delivered.delivery_id,
            token=token,
        )
    assert len(sent) == 2, sent  # the delivery's rows joined, then its parties


def test_a_grant_lives_at_most_fifteen_minutes(market: Space, delivered: Delivered) -> None:
    presign = FakePresign()
    ask(market, delivered, presign, lifetime=timedelta(minutes=15))
    with pytest.raises(InvalidInput, match="between 1 s and 0:15:00"):
        ask(market, delivered, presign, lifetime=timedelta(minutes=16))
    assert [lifetime for _, lifetime in presign.calls] == [timedelta(minutes=15)]


def test_someone_elses_delivery_reads_like_a_missing_one(
    market: Space, provider: Provider, delivered: Delivered
) -> None:
    other = provider.publish(provider.agreement("supplier-02"), 1, send=False)
    token = token_of(market, SUBSCRIBER)
    refusals = []
    for delivery_id in (other.delivery_id, "dlv-agr-000000000000-1"):
        with pytest.raises(Unauthorized) as caught:
            deliveries.grant(
                market.db,
                market.keys,
                FakePresign(),
                subscriber=SUBSCRIBER,
                delivery_id=delivery_id,
                token=token,
            )
        refusals.append(str(caught.value).replace(delivery_id, "ID"))
    assert refusals[0] == refusals[1]
    assert "has no delivery with id" in refusals[0]


@pytest.mark.parametrize("problem", ["expired", "forged", "someone else's"])
def test_a_bad_token_is_unauthorized(market: Space, delivered: Delivered, problem: str) -> None:
    if problem == "expired":
        token = token_of(market, SUBSCRIBER, now=utcnow() - timedelta(minutes=10))
    elif problem == "forged":
        token = tokens.mint(SUBSCRIBER, SigningKey.generate())
    else:
        token = token_of(market, "xcmg")
    presign = FakePresign()
    with pytest.raises(Unauthorized):
        ask(market, delivered, presign, token=token)
    assert presign.calls == []


def test_revocation_takes_effect_at_the_next_grant(market: Space, delivered: Delivered) -> None:
    agreements.revoke(market.db, market.keys, actor="xcmg", agreement_id=delivered.agreement_id)
    presign = FakePresign()
    with pytest.raises(Conflict, match="has ended \\(revoked\\)"):
        ask(market, delivered, presign)
    assert presign.calls == []


def test_an_expired_agreement_is_refused_and_its_end_recorded(
    market: Space, provider: Provider
) -> None:
    delivered = provider.publish(
        provider.agreement(SUBSCRIBER, valid_until=utcnow() + timedelta(days=1)), 1, send=False
    )
    later = utcnow() + timedelta(days=2)
    with pytest.raises(Conflict, match="expired"):
        ask(
            market,
            delivered,
            FakePresign(),
            now=later,
            token=token_of(market, SUBSCRIBER, now=later),
        )
    assert market.actions()[-1] == "agreement.terminated"


def test_the_delivery_that_used_up_an_agreement_is_still_served(
    market: Space, provider: Provider
) -> None:
    delivered = provider.publish(provider.agreement(SUBSCRIBER, max_deliveries=1), 1, send=False)
    assert agreements.show(market.db, SUBSCRIBER, delivered.agreement_id).reason == "exhausted"
    granted = ask(market, delivered, FakePresign())
    assert granted.delivery_id == delivered.delivery_id  # type: ignore[attr-defined]


def test_a_suspended_subscriber_gets_no_grant(market: Space, delivered: Delivered) -> None:
    participants.suspend(market.db, market.keys, SUBSCRIBER)
    with pytest.raises(Unauthorized, match="suspended"):
        ask(market, delivered, FakePresign())


def test_a_receipt_lands_the_delivery_with_a_ledger_entry_and_an_event(
    market: Space, delivered: Delivered
) -> None:
    landed_at = utcnow()
    view = receive(market.db, market, delivered, landed_at)
    after = market.counts()
    again = receive(market.db, market, delivered)

    assert (view.state, view.landed_at) == ("landed", landed_at)
    assert again == view
    assert market.counts() == after
    with market.db.transaction() as session:
        entries = session.scalars(select(LedgerEntryRow).order_by(LedgerEntryRow.sequence)).all()
        outbox = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        row = session.get(DeliveryRow, delivered.delivery_id)
    public = {p.participant_id: p.public_key for p in participants.list_participants(market.db)}
    provider_entry, receipt_entry = (e for e in entries if delivered.delivery_id in e.subject_ids)
    assert (provider_entry.actor, provider_entry.action) == ("xcmg", "delivery.announced")
    assert (receipt_entry.actor, receipt_entry.action) == (SUBSCRIBER, "delivery.received")
    assert receipt_entry.sequence == entries[-1].sequence
    assert row is not None
    assert row.receipt_signature
    event = decode(outbox[-1].payload, outbox[-1].headers, public.__getitem__)
    assert (event.event_type, event.actor) == ("DeliveryReceipt", SUBSCRIBER)
    assert event.body["delivery_id"] == delivered.delivery_id
    assert event.body["sha256"] == delivered.stored.sha256
    assert (outbox[-1].topic, outbox[-1].key) == ("dataspace.deliveries.received.v1", SUBSCRIBER)
    assert ledger.verify(market.db).ok


def test_a_receipt_reads_the_rows_it_checks_in_one_statement(
    market: Space, delivered: Delivered
) -> None:
    with selects(market.db) as sent:
        receive(market.db, market, delivered)
    reads = [s for s in sent if "ledger" not in s and "FROM outbox" not in s]
    # The delivery (locked), then its release, agreement and subscriber together.
    assert len(reads) == 2, reads


def test_a_receipt_must_name_what_was_delivered_and_be_signed_by_the_subscriber(
    market: Space, delivered: Delivered
) -> None:
    facts = {
        "subscriber": SUBSCRIBER,
        "delivery_id": delivered.delivery_id,
        "sha256": delivered.stored.sha256,
        "rows": delivered.stored.rows,
        "landed_at": utcnow(),
    }
    before = market.counts()
    with pytest.raises(InvalidInput, match="land it again"):
        receipts.receipt(market.db, market.keys, **{**facts, "rows": 1})  # type: ignore[arg-type]
    with pytest.raises(Unauthorized, match="does not verify"):
        receipts.receipt(
            market.db,
            market.keys,
            signature=SigningKey.generate().sign(b"x"),
            **facts,  # type: ignore[arg-type]
        )
    with pytest.raises(Unauthorized, match="has no delivery"):
        receipts.receipt(market.db, market.keys, **{**facts, "subscriber": "xcmg"})  # type: ignore[arg-type]
    assert market.counts() == before


def test_a_remote_subscribers_receipt_is_recorded_with_its_own_signed_request(
    market: Space, delivered: Delivered
) -> None:
    with market.db.transaction() as session:
        key = participants.local_signing_key(session, market.keys, SUBSCRIBER)
    market.keys.discard(SUBSCRIBER)  # the subscriber's key lives on its own connector
    landed_at = utcnow()
    payload = receipt_payload(
        delivered.delivery_id, delivered.stored.sha256, delivered.stored.rows, landed_at
    )
    before = market.counts()
    with pytest.raises(Unauthorized, match="not on this node"):  # no act: nobody can receipt
        receive(market.db, market, delivered, landed_at, signature=key.sign(payload))
    assert market.counts() == before

    body = b'{"receipt":"as sent"}'
    token = mint_act(SUBSCRIBER, key, "POST", f"/deliveries/{delivered.delivery_id}/receipt", body)
    with acting(recorded_act(token, key.public_key_b64), body):
        receive(market.db, market, delivered, landed_at, signature=key.sign(payload))

    assert market.actions()[-1] == "delivery.received"
    entry = ledger.latest(market.db, 1)[0]
    assert entry.actor == SUBSCRIBER
    with market.db.transaction() as session:
        row = session.get(LedgerEntryRow, entry.sequence)
        assert row is not None
        assert (row.sealer, row.attestation) == ("operator", token)
    assert ledger.verify(market.db).ok


def test_due_deliveries_are_the_announced_ones_under_agreements_that_serve_them(
    market: Space, provider: Provider
) -> None:
    kept = provider.agreement(SUBSCRIBER)
    first = provider.publish(kept, 1, send=False)
    second = provider.publish(kept, 2, send=False)
    revoked = provider.publish(provider.agreement(SUBSCRIBER), 3, send=False)
    provider.publish(provider.agreement("supplier-02"), 1, send=False)
    agreements.revoke(market.db, market.keys, actor="xcmg", agreement_id=revoked.agreement_id)
    receive(market.db, market, first)

    due = deliveries.due_deliveries(market.db, subscriber=SUBSCRIBER)

    assert [d.delivery_id for d in due] == [second.delivery_id]
    assert (due[0].product_id, due[0].version, due[0].provider) == ("purchase-orders", 2, "xcmg")


def test_a_real_presigned_url_expires_in_minutes_and_the_store_enforces_it(
    market: Space, stack_settings: Settings, unique: str
) -> None:
    store = release_store(stack_settings, f"grants-{unique}")
    provider = Provider(market, store, None)
    delivered = provider.publish(provider.agreement(SUBSCRIBER), 1, send=False)
    presign = presigner(stack_settings.s3(), store.bucket)

    granted = ask(market, delivered, presign)  # type: ignore[arg-type]
    url = granted.url  # type: ignore[attr-defined]
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["300"]
    with urllib.request.urlopen(url, timeout=10) as response:
        assert len(response.read()) == delivered.stored.bytes

    short = ask(market, delivered, presign, lifetime=timedelta(seconds=1))
    short_url = short.url  # type: ignore[attr-defined]

    def refused() -> bool:
        try:
            urllib.request.urlopen(short_url, timeout=10).close()
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code == 403
        return False

    wait_for(refused, timeout=15, interval=0.5)


def test_a_grant_is_served_while_another_writer_holds_the_database(
    market: Space, delivered: Delivered
) -> None:
    """A grant only reads (unless an agreement's end is due), so a long write elsewhere (a
    publish recording 100 deliveries, a settlement) does not hold subscribers up."""
    token = token_of(market, SUBSCRIBER)
    leader = participants.show_participant(market.db, PROVIDER).public_key
    with Database(market.db.url, busy_timeout_s=0.2) as agent, market.db.transaction() as other:
        # SQLite: a write transaction holds the database's write lock from its start;
        # PostgreSQL: the delivery's row, as a receipt for it being recorded would.
        other.get(DeliveryRow, delivered.delivery_id, with_for_update=True)
        granted = deliveries.grant(
            agent,
            market.keys,
            FakePresign(),
            subscriber=SUBSCRIBER,
            delivery_id=delivered.delivery_id,
            token=token,
        )
        assert granted.delivery_id == delivered.delivery_id
        # The agent's other reads: its own key, and the signer's key of each announcement.
        control = LocalControlPlane(agent, market.keys, FakePresign(), SUBSCRIBER)
        assert control.public_key_of(PROVIDER) == leader
        with pytest.raises(StoreBusy):  # a receipt is a write: it waits, then says so
            receive(agent, market, delivered)


def test_deciding_and_counting_a_releases_deliveries_take_the_same_statements_for_any_number(
    market: Space, provider: Provider
) -> None:
    """Publishing decides and counts every agreement on the product: a fixed number of
    SELECTs, not a few per agreement."""

    def statements() -> tuple[int, int, dict[str, int | Conflict]]:
        plan = releases.plan_release(
            market.db,
            market.keys,
            product="purchase-orders",
            provider=PROVIDER,
            mode="snapshot",
            now=utcnow(),
        )
        reservations.give_back(market.db, plan.product_id, plan.reservation)
        with selects(market.db) as deciding:
            found = releases.recipients(market.db, market.keys, plan, utcnow())
        ids = [recipient.agreement_id for recipient in found]
        with market.db.transaction() as session, selects(market.db) as counting:
            counts = agreements.count_deliveries(session, ids, now=utcnow())
        return len(deciding), len(counting), counts

    revoked = provider.agreement("supplier-01")
    agreements.revoke(market.db, market.keys, actor=PROVIDER, agreement_id=revoked)
    provider.agreement("supplier-02")
    few_deciding, few_counting, counts = statements()
    assert isinstance(counts[revoked], Conflict)
    for number in range(3, 9):
        provider.agreement(f"supplier-{number:02d}")
    many_deciding, many_counting, counts = statements()
    assert (many_deciding, many_counting) == (few_deciding, few_counting)
    assert many_counting == 2, (many_deciding, many_counting)
    assert many_deciding == 4, many_deciding  # agreements, negotiations, parties, consumers
    assert isinstance(counts[revoked], Conflict)
    assert sorted(v for k, v in counts.items() if k != revoked) == [1] * 6 + [2]  # type: ignore[type-var]
