"""Deliver across processes: the hub, the provider's connector and the subscriber's connector
each on their own, talking HTTP (served by uvicorn), with real embedded S3.

Each participant's key lives only in its connector's directory: the test space registers
``xcmg`` and ``supplier-01`` on the hub, publishes one delivery, then moves their key files
out of the hub's key store into their connectors' directories.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select, update

from dataspace.api.app import create_app
from dataspace.config import Settings, load_settings
from dataspace.connector.grants import create_grant_app
from dataspace.connector.hub_client import HubClient, json_body
from dataspace.connector.remote_control_plane import RemoteControlPlane
from dataspace.connector.state import Connector, ConnectorConfig, open_connector, save_config
from dataspace.controlplane import agreements, participants
from dataspace.controlplane.receipts import receipt_payload
from dataspace.errors import Conflict, NotFound, ServiceError, Unauthorized
from dataspace.identity.acts import mint_act, recorded_act
from dataspace.identity.keys import b64url_encode
from dataspace.store.models import LedgerEntryRow, ParticipantRow
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.helpers import free_port, wait_for
from tests.worlds.delivery_setup import PROVIDER, Delivered, Provider, release_store

pytestmark = pytest.mark.integration

SUBSCRIBER = "supplier-01"


class Served:
    """An ASGI app served by uvicorn in a thread on a free port, until :meth:`stop`."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_for(lambda: self._server.started, timeout=15)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


@dataclass
class World:
    space: Space
    hub: Served
    provider: Connector
    subscriber: Connector
    grants_url: str
    delivered: Delivered

    closing: ExitStack

    def control(self) -> RemoteControlPlane:
        control = RemoteControlPlane(self.subscriber)
        self.closing.callback(control.close)
        return control

    def ask_grant(self, delivery_id: str) -> httpx.Response:
        """The subscriber's signed grant request, sent as it is, to see the status."""
        path = f"/grants/{delivery_id}"
        token = mint_act(SUBSCRIBER, self.subscriber.key, "POST", path)
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.post(self.grants_url + path, headers=headers, trust_env=False)


def connector_dir(
    root: Path, space: Space, participant: str, hub_url: str, settings: dict[str, str]
) -> Path:
    """A connector's state directory holding ``participant``'s key, which leaves the hub."""
    directory = root / f"{participant}-connector"
    save_config(directory, ConnectorConfig(participant, hub_url, settings=settings))
    (directory / "keys").mkdir(mode=0o700)
    shutil.copy2(space.keys.path_of(participant), directory / "keys" / f"{participant}.pem")
    space.keys.discard(participant)
    return directory


def register_endpoint(space: Space, participant: str, endpoint: str) -> None:
    with space.db.transaction() as session:
        session.execute(
            update(ParticipantRow)
            .where(ParticipantRow.id == participant)
            .values(endpoint=endpoint, custody="connector")
        )


@pytest.fixture
def world(
    market: Space, database_url: str, tmp_path: Path, stack_settings: Settings, unique: str
) -> Iterator[World]:
    bucket = f"xcmg-{unique}"
    provider = Provider(market, release_store(stack_settings, bucket), None)
    delivered = provider.publish(provider.agreement(SUBSCRIBER), 1, send=False)
    s3 = stack_settings.s3()
    own_bucket = {
        "s3_endpoint": s3.url,
        "s3_access_key": s3.access_key,
        "s3_secret_key": s3.secret_key.get_secret_value(),
        "release_bucket": bucket,
    }
    with ExitStack() as stack:
        # The `keys` fixture keeps keys in tmp_path/keys, which is <state_dir>/keys here.
        hub = Served(create_app(load_settings(state_dir=tmp_path, database_url=database_url)))
        stack.callback(hub.stop)
        providing = connector_dir(tmp_path, market, PROVIDER, hub.url, own_bucket)
        subscribing = connector_dir(tmp_path, market, SUBSCRIBER, hub.url, {})
        provider_connector = stack.enter_context(open_connector(providing))
        grants = Served(create_grant_app(provider_connector))
        stack.callback(grants.stop)
        register_endpoint(market, PROVIDER, grants.url)
        subscriber_connector = stack.enter_context(open_connector(subscribing))
        yield World(
            market, hub, provider_connector, subscriber_connector, grants.url, delivered, stack
        )


def test_the_subscriber_gets_a_grant_from_the_providers_connector_and_the_bytes_match(
    world: World,
) -> None:
    control = world.control()
    assert [d.delivery_id for d in control.due()] == [world.delivered.delivery_id]

    grant = control.grant(world.delivered.delivery_id)

    assert "xcmg-" in grant.url  # the provider's own bucket
    data = httpx.get(grant.url, trust_env=False).content
    assert hashlib.sha256(data).hexdigest() == world.delivered.stored.sha256 == grant.sha256
    assert (grant.rows, grant.bytes) == (world.delivered.stored.rows, len(data))
    assert 240 <= (grant.expires_at - utcnow()).total_seconds() <= 300


def test_a_revoked_agreement_or_a_suspended_subscriber_is_refused_at_the_provider(
    world: World,
) -> None:
    delivery_id = world.delivered.delivery_id
    participants.suspend(world.space.db, world.space.keys, SUBSCRIBER)
    suspended = world.ask_grant(delivery_id)
    assert suspended.status_code == 403
    assert "suspended" in suspended.json()["message"]

    participants.reinstate(world.space.db, world.space.keys, SUBSCRIBER)
    assert world.ask_grant(delivery_id).status_code == 200
    agreements.revoke(
        world.space.db,
        world.space.keys,
        actor="operator",
        agreement_id=world.delivered.agreement_id,
    )
    revoked = world.ask_grant(delivery_id)
    assert revoked.status_code == 403
    assert "revoked" in revoked.json()["message"]
    with pytest.raises(Unauthorized, match="revoked"):
        world.control().grant(delivery_id)


def test_a_provider_whose_hub_does_not_answer_grants_nothing(world: World) -> None:
    delivery_id = world.delivered.delivery_id
    assert world.ask_grant(delivery_id).status_code == 200  # the subscriber's key is cached now

    world.hub.stop()

    down = world.ask_grant(delivery_id)
    assert down.status_code == 503
    assert "cannot be reached" in down.json()["message"]
    assert "url" not in down.json()
    asking = HubClient(world.grants_url, SUBSCRIBER, world.subscriber.key, what="connector")
    with pytest.raises(ServiceError):
        asking.post(f"/grants/{delivery_id}")
    asking.close()


def test_a_receipt_is_the_subscribers_act_sealed_by_the_hub(world: World) -> None:
    delivered = world.delivered
    control = world.control()

    control.receipt(delivered.delivery_id, delivered.stored.sha256, delivered.stored.rows, utcnow())

    with world.space.db.transaction() as session:
        entry = session.scalars(
            select(LedgerEntryRow).order_by(LedgerEntryRow.sequence.desc()).limit(1)
        ).one()
        assert (entry.action, entry.actor, entry.sealer) == (
            "delivery.received",
            SUBSCRIBER,
            "operator",
        )
        attestation = entry.attestation
    assert attestation is not None
    act = recorded_act(attestation, world.subscriber.key.public_key_b64)
    assert (act.actor, act.path) == (SUBSCRIBER, f"/deliveries/{delivered.delivery_id}/receipt")
    assert control.due() == []


def test_a_receipt_naming_other_content_is_a_conflict_also_after_the_first(
    world: World,
) -> None:
    delivered, control = world.delivered, world.control()
    other = hashlib.sha256(b"other bytes").hexdigest()
    with pytest.raises(Conflict):
        control.receipt(delivered.delivery_id, other, delivered.stored.rows, utcnow())

    control.receipt(delivered.delivery_id, delivered.stored.sha256, delivered.stored.rows, utcnow())

    with pytest.raises(Conflict):
        control.receipt(delivered.delivery_id, other, delivered.stored.rows, utcnow())


def test_a_replayed_receipt_request_is_refused(world: World) -> None:
    delivered, landed_at = world.delivered, utcnow()
    payload = receipt_payload(
        delivered.delivery_id, delivered.stored.sha256, delivered.stored.rows, landed_at
    )
    path = f"/deliveries/{delivered.delivery_id}/receipt"
    body = json_body(
        {
            "sha256": delivered.stored.sha256,
            "rows": delivered.stored.rows,
            "landedAt": landed_at.isoformat(),
            "signature": b64url_encode(world.subscriber.key.sign(payload)),
        }
    )
    token = mint_act(SUBSCRIBER, world.subscriber.key, "POST", path, body)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send() -> httpx.Response:
        return httpx.post(world.hub.url + path, content=body, headers=headers, trust_env=False)

    assert send().status_code == 200
    replayed = send()
    assert replayed.status_code == 401
    assert "replay" in replayed.json()["message"]


def test_a_receipt_for_a_delivery_never_announced_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.control().receipt(
            "dlv-agr-000000000000-v1", world.delivered.stored.sha256, 1, utcnow()
        )


def test_a_replayed_grant_request_gets_no_second_url(world: World) -> None:
    path = f"/grants/{world.delivered.delivery_id}"
    token = mint_act(SUBSCRIBER, world.subscriber.key, "POST", path)
    headers = {"Authorization": f"Bearer {token}"}

    first = httpx.post(world.grants_url + path, headers=headers, trust_env=False)
    again = httpx.post(world.grants_url + path, headers=headers, trust_env=False)

    assert first.status_code == 200
    assert again.status_code == 401
    assert "(a replay)" in again.json()["detail"]
    assert "url" not in again.json()


def test_only_the_deliverys_provider_may_ask_the_hub_and_only_for_its_subscriber(
    world: World,
) -> None:
    """A grant asked of the wrong provider's connector gets nothing: the hub tells only the
    delivery's own provider, and only about the subscriber it is for."""
    path = f"/deliveries/{world.delivered.delivery_id}/authorization"
    wrong_provider = HubClient(world.hub.url, SUBSCRIBER, world.subscriber.key)
    with pytest.raises((NotFound, Unauthorized)):
        wrong_provider.get(path, params={"subscriber": SUBSCRIBER})
    wrong_provider.close()
    with pytest.raises((NotFound, Unauthorized)):
        world.provider.hub.get(path, params={"subscriber": "supplier-02"})
    allowed = world.provider.hub.get(path, params={"subscriber": SUBSCRIBER})
    assert allowed["delivery_id"] == world.delivered.delivery_id
