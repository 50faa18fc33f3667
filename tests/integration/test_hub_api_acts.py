"""The hub's API as connectors reach it: every change is the participant's own signed act.

Over a real database (SQLite and PostgreSQL): a registration proves possession of the key it
declares, an act is good for exactly one request and once, a participant whose key is not on
the hub cannot be acted for, and the ledger keeps each act as its actor's proof.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dataspace.api.app import create_app
from dataspace.config import load_settings
from dataspace.connector.hub_client import json_body
from dataspace.controlplane import ledger, participants
from dataspace.identity import tokens
from dataspace.identity.acts import mint_act
from dataspace.identity.keys import SigningKey
from dataspace.identity.uscc import make_uscc
from dataspace.store.models import LedgerEntryRow, UsedActRow
from tests.fixtures.controlplane import Space

pytestmark = pytest.mark.integration

REGISTRATIONS = "/participants/registrations"


@pytest.fixture
def hub(market: Space, database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(state_dir=tmp_path, database_url=database_url)
    with TestClient(create_app(settings)) as client:
        yield client


def registration(participant: str, key: SigningKey, n: int) -> bytes:
    return json_body(
        {
            "id": participant,
            "name": f"Supplier {n}",
            "uscc": make_uscc(f"9132050{900 + n:010d}"),
            "roles": ["supplier"],
            "region": "CN-JS",
            "public_key": key.public_key_b64,
            "endpoint": None,
            "custody": "hosted:sme-cloud",
        }
    )


def post(client: TestClient, path: str, body: bytes, token: str) -> httpx.Response:
    return client.post(
        path,
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def act(participant: str, key: SigningKey, body: bytes, path: str = REGISTRATIONS) -> str:
    return mint_act(participant, key, "POST", path, body)


def test_a_connector_registers_with_a_key_it_proves_it_holds(
    hub: TestClient, market: Space
) -> None:
    key = SigningKey.generate()
    body = registration("supplier-77", key, 1)
    answer = post(hub, REGISTRATIONS, body, act("supplier-77", key, body))

    assert answer.status_code == 201, answer.text
    record = answer.json()
    assert (record["status"], record["custody"]) == ("pending", "hosted:sme-cloud")
    assert not market.keys.has("supplier-77")  # the hub never saw the private key
    with market.db.transaction() as session:
        entry = session.scalars(
            select(LedgerEntryRow)
            .where(LedgerEntryRow.action == "participant.registered")
            .order_by(LedgerEntryRow.sequence.desc())
        ).first()
        assert entry is not None
        assert (entry.actor, entry.sealer) == ("supplier-77", "operator")
        assert entry.act_body == body.decode()
    assert ledger.verify(market.db).ok
    shown = ledger.latest(market.db, 1)[0]
    assert (shown.actor, shown.sealer, shown.signed_on) == (
        "supplier-77", "operator", "hosted:sme-cloud",
    )  # fmt: skip


def test_a_registration_signed_with_another_key_is_refused(hub: TestClient, market: Space) -> None:
    declared, other = SigningKey.generate(), SigningKey.generate()
    body = registration("supplier-78", declared, 2)
    before = market.counts()

    answer = post(hub, REGISTRATIONS, body, act("supplier-78", other, body))

    assert answer.status_code == 401
    assert "signature" in answer.json()["message"]
    assert market.counts() == before


def test_a_connector_cannot_register_another_id_than_it_signs_as(
    hub: TestClient, market: Space
) -> None:
    key = SigningKey.generate()
    body = registration("supplier-79", key, 3)
    before = market.counts()

    answer = post(hub, REGISTRATIONS, body, mint_act("xcmg", key, "POST", REGISTRATIONS, body))

    assert answer.status_code == 403
    assert "registers only its own participant" in answer.json()["message"]
    assert market.counts() == before


def test_an_act_is_good_for_one_request_once(hub: TestClient, market: Space) -> None:
    key = SigningKey.generate()
    body = registration("supplier-80", key, 4)
    once = act("supplier-80", key, body)
    assert post(hub, REGISTRATIONS, body, once).status_code == 201

    replayed = post(hub, REGISTRATIONS, body, once)
    assert replayed.status_code == 401
    assert "already carried out" in replayed.json()["message"]

    other_body = registration("supplier-81", key, 5)
    swapped = post(hub, REGISTRATIONS, other_body, act("supplier-81", key, body))
    assert swapped.status_code == 401
    assert "not the one the token was signed for" in swapped.json()["message"]

    elsewhere = mint_act("supplier-80", key, "POST", "/agreements", body)
    misused = post(hub, REGISTRATIONS, body, elsewhere)
    assert misused.status_code == 401
    assert "signed for POST /agreements" in misused.json()["message"]
    with market.db.transaction() as session:
        assert session.scalar(select(UsedActRow.actor).limit(1)) == "supplier-80"


def test_a_participant_whose_key_is_elsewhere_cannot_be_acted_for_with_a_plain_token(
    hub: TestClient, market: Space
) -> None:
    key = SigningKey.generate()
    body = registration("supplier-82", key, 6)
    post(hub, REGISTRATIONS, body, mint_act("supplier-82", key, "POST", REGISTRATIONS, body))
    participants.admit(market.db, market.keys, "supplier-82")
    request = json_body({"product_id": "purchase-orders", "purpose": "supply-planning"})

    plain = tokens.mint("supplier-82", key)  # identifies, but is no act: nothing to keep as proof
    refused = post(hub, "/agreements", request, plain)
    assert refused.status_code == 403
    assert "acts from its own connector" in refused.json()["message"]

    signed = post(hub, "/agreements", request, act("supplier-82", key, request, "/agreements"))
    assert signed.status_code == 201, signed.text
    assert ledger.verify(market.db).ok
