"""The management API's rules found by fuzzing it (issue 18), over a real database (SQLite and
PostgreSQL): refusals with a sentence instead of 500s, callers that are not admitted, asking
again for a product, and who reads which ledger entry (ADR 0022)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient

from dataspace.api.app import create_app
from dataspace.config import load_settings
from dataspace.connector.hub_client import json_body
from dataspace.controlplane import ledger, participants, receipts
from dataspace.controlplane.bounds import MAX_DELIVERIES
from dataspace.identity import tokens
from dataspace.identity.acts import mint_act
from dataspace.identity.keys import SigningKey
from dataspace.identity.uscc import make_uscc
from dataspace.ledger.visibility import HASH_FIELDS, linkage_problem
from dataspace.store import repository
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import PURPOSE, Space
from tests.worlds.dataplane_data import local_store
from tests.worlds.delivery_setup import Delivered, Provider

pytestmark = pytest.mark.integration

TOO_BIG = 2**63  # one past SQLite's (and PostgreSQL's BIGINT) largest integer
ORDERS = {"product_id": "purchase-orders", "purpose": PURPOSE}


@pytest.fixture
def client(market: Space, database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    # As in test_api.py: the `keys` fixture keeps keys in tmp_path/keys, <state_dir>/keys here.
    settings = load_settings(state_dir=tmp_path, database_url=database_url)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def auth(space: Space, participant: str) -> dict[str, str]:
    """The header a participant sends: a token signed with its own key."""
    with space.db.transaction() as session:
        registered = repository.get_participant(session, participant).public_key
    key = space.keys.signing_key(participant, registered)
    return {"Authorization": f"Bearer {tokens.mint(participant, key)}"}


class Answer(Protocol):
    """An HTTP answer as the test client gives it (its httpx flavour varies by version)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def message(response: Answer) -> str:
    """The refusal's sentence, in the API's error body before or after issue 18's new format."""
    body = response.json()
    return str(body.get("message") or body.get("detail"))


def entries(client: TestClient, space: Space, reader: str) -> list[dict[str, Any]]:
    answer = client.get("/ledger/entries", params={"limit": 1000}, headers=auth(space, reader))
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


# -- refusals instead of 500s ---------------------------------------------------------------


def test_an_agreement_end_without_a_timezone_is_refused_with_a_sentence(
    client: TestClient, market: Space
) -> None:
    naive = (datetime.now(UTC) + timedelta(days=30)).replace(tzinfo=None).isoformat()
    refused = client.post(
        "/agreements", json={**ORDERS, "valid_until": naive}, headers=auth(market, "supplier-01")
    )
    assert refused.status_code == 400
    assert "timezone" in message(refused)
    assert client.get("/agreements", headers=auth(market, "supplier-01")).json() == []


@pytest.mark.parametrize("max_deliveries", [TOO_BIG, MAX_DELIVERIES + 1])
def test_a_delivery_limit_beyond_the_bound_is_refused(
    client: TestClient, market: Space, max_deliveries: int
) -> None:
    refused = client.post(
        "/agreements",
        json={**ORDERS, "max_deliveries": max_deliveries},
        headers=auth(market, "supplier-01"),
    )
    assert refused.status_code in (400, 422)
    assert "max_deliveries" in message(refused)
    at_the_bound = client.post(
        "/agreements",
        json={**ORDERS, "max_deliveries": MAX_DELIVERIES},
        headers=auth(market, "supplier-01"),
    )
    assert at_the_bound.status_code == 201
    assert at_the_bound.json()["max_deliveries"] == MAX_DELIVERIES


def test_versions_and_counts_too_large_for_the_store_are_refused(
    client: TestClient, market: Space
) -> None:
    market.agree("supplier-01", "purchase-orders", provider="xcmg")
    history = client.post(
        "/products/purchase-orders/history",
        json={"from_version": TOO_BIG},
        headers=auth(market, "supplier-01"),
    )
    recipients = client.get(
        f"/releases/purchase-orders/{TOO_BIG}/recipients", headers=auth(market, "xcmg")
    )
    receipt = client.post(
        "/deliveries/dlv-x-v1/receipt",
        json={"sha256": "0" * 64, "rows": TOO_BIG, "landedAt": utcnow().isoformat(),
              "signature": "AA"},
        headers=auth(market, "supplier-01"),
    )  # fmt: skip
    for refused in (history, recipients, receipt):
        assert refused.status_code in (400, 422), refused.text
        assert "less than or equal" in message(refused)


def test_a_malformed_product_id_is_400_like_on_every_other_route(
    client: TestClient, market: Space
) -> None:
    malformed = client.get("/products/Purchase_Orders", headers=auth(market, "supplier-01"))
    assert malformed.status_code == 400
    assert "product id" in message(malformed)
    unknown = client.get("/products/no-such-product", headers=auth(market, "supplier-01"))
    assert unknown.status_code == 404


# -- callers that are not admitted ----------------------------------------------------------

READS = (
    "/participants", "/participants/xcmg", "/products", "/products/purchase-orders",
    "/catalog/dcat", "/agreements", "/ledger/entries", "/ledger/verify", "/deliveries/due",
)  # fmt: skip


def test_a_suspended_participant_reads_only_its_own_record(
    client: TestClient, market: Space
) -> None:
    market.agree("supplier-01", "purchase-orders", provider="xcmg")
    participants.suspend(market.db, market.keys, "supplier-01")
    own = client.get("/participants/supplier-01", headers=auth(market, "supplier-01"))
    assert own.status_code == 200
    assert own.json()["status"] == "suspended"
    for path in READS:
        refused = client.get(path, headers=auth(market, "supplier-01"))
        assert refused.status_code == 403, path
        assert "supplier-01 is suspended" in message(refused)
        assert "reinstate" in message(refused)
    requested = client.post("/agreements", json=ORDERS, headers=auth(market, "supplier-01"))
    assert requested.status_code == 403
    assert "suspended" in message(requested)

    participants.reinstate(market.db, market.keys, "supplier-01")
    assert client.get("/participants", headers=auth(market, "supplier-01")).status_code == 200


def test_a_registered_connector_reads_its_own_record_until_it_is_admitted(
    client: TestClient, market: Space
) -> None:
    key = SigningKey.generate()
    body = json_body({
        "id": "supplier-07", "name": "Supplier 7", "uscc": make_uscc("91320500000000907"),
        "roles": ["supplier"], "region": "CN-JS", "public_key": key.public_key_b64,
        "endpoint": None, "custody": "connector",
    })  # fmt: skip
    act = mint_act("supplier-07", key, "POST", "/participants/registrations", body)
    registered = client.post(
        "/participants/registrations",
        content=body,
        headers={"Authorization": f"Bearer {act}", "Content-Type": "application/json"},
    )
    assert registered.status_code == 201, registered.text

    def get(path: str) -> Answer:
        token = tokens.mint("supplier-07", key)
        return client.get(path, headers={"Authorization": f"Bearer {token}"})

    # What `connector status` asks while pending: its own record (and nothing else works).
    assert get("/participants/supplier-07").json()["status"] == "pending"
    for path in READS:
        refused = get(path)
        assert refused.status_code == 403, path
        assert "supplier-07 is registered but not admitted yet" in message(refused)
    # A write, signed as the connector signs it, is refused the same way.
    ask = json_body(ORDERS)
    act = mint_act("supplier-07", key, "POST", "/agreements", ask)
    written = client.post(
        "/agreements",
        content=ask,
        headers={"Authorization": f"Bearer {act}", "Content-Type": "application/json"},
    )
    assert written.status_code == 403
    assert "not admitted yet" in message(written)

    participants.admit(market.db, market.keys, "supplier-07")
    assert get("/participants/supplier-07/credential").status_code == 200
    assert get("/products").status_code == 200


# -- asking again ----------------------------------------------------------------------------


def test_asking_again_answers_the_open_request_or_names_it_when_the_terms_differ(
    client: TestClient, market: Space
) -> None:
    supplier = auth(market, "supplier-01")
    until = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    first = client.post("/agreements", json={**ORDERS, "valid_until": until}, headers=supplier)
    assert first.status_code == 201
    agreement = first.json()["agreement_id"]
    recorded = market.counts()

    again = client.post("/agreements", json={**ORDERS, "valid_until": until}, headers=supplier)
    assert again.status_code == 200
    assert again.json()["agreement_id"] == agreement
    unstated = client.post("/agreements", json=ORDERS, headers=supplier)  # the end not stated
    assert unstated.status_code == 200
    assert market.counts() == recorded  # nothing recorded twice

    for other in ({"max_deliveries": 3}, {"valid_until": (datetime.now(UTC) + timedelta(days=9))
                                         .isoformat()}):  # fmt: skip
        refused = client.post("/agreements", json={**ORDERS, **other}, headers=supplier)
        assert refused.status_code == 409
        assert f"open request {agreement}" in message(refused)
        assert f"/agreements/{agreement}/reject" in message(refused)
    assert market.counts() == recorded

    assert client.post(f"/agreements/{agreement}/reject", headers=supplier).status_code == 200
    renewed = client.post("/agreements", json={**ORDERS, "max_deliveries": 3}, headers=supplier)
    assert renewed.status_code == 201
    assert renewed.json()["agreement_id"] != agreement


# -- who reads which ledger entry --------------------------------------------------------------


@pytest.fixture
def delivered(market: Space, tmp_path: Path) -> Delivered:
    """supplier-01's agreement with xcmg, a delivery under it and supplier-01's receipt; and
    supplier-02, a member party to none of it."""
    market.member("supplier-02")
    provider = Provider(market, local_store(tmp_path / "store"), None)
    delivery = provider.publish(provider.agreement("supplier-01"), 1, send=False)
    receipts.receipt(
        market.db, market.keys, subscriber="supplier-01", delivery_id=delivery.delivery_id,
        sha256=delivery.stored.sha256, rows=delivery.stored.rows, landed_at=utcnow(),
    )  # fmt: skip
    return delivery


def _about(entry: dict[str, Any], delivered: Delivered) -> bool:
    subjects = entry.get("subject_ids", ())
    return delivered.agreement_id in subjects or delivered.delivery_id in subjects


def test_a_member_reads_in_full_only_the_entries_it_is_party_to(
    client: TestClient, market: Space, delivered: Delivered
) -> None:
    everything = entries(client, market, "operator")
    assert everything == [entry.to_json() for entry in ledger.latest(market.db, 1000)]
    private = {e["sequence"] for e in everything if _about(e, delivered)}
    actions = {e["action"] for e in everything if e["sequence"] in private}
    assert {"negotiation.requested", "agreement.finalized", "delivery.announced",
            "delivery.received"} <= actions  # fmt: skip

    outsider = entries(client, market, "supplier-02")
    assert [e["sequence"] for e in outsider] == [e["sequence"] for e in everything]
    for entry in outsider:
        if entry["sequence"] in private:
            assert set(entry) == {*HASH_FIELDS, "redacted"}
    shown = client.get("/ledger/entries", params={"limit": 1000},
                       headers=auth(market, "supplier-02")).text  # fmt: skip
    assert delivered.agreement_id not in shown
    assert delivered.delivery_id not in shown
    public = {e["action"] for e in outsider if "action" in e}
    assert {"participant.admitted", "product.published"} <= public
    assert linkage_problem(outsider) is None  # the chain still links up, hashes only

    for party in ("supplier-01", "xcmg"):  # the consumer, and the provider (of the receipt too)
        seen = entries(client, market, party)
        assert [e for e in seen if e["sequence"] in private] == [
            e for e in everything if e["sequence"] in private
        ]
    verified = client.get("/ledger/verify", headers=auth(market, "supplier-02")).json()
    assert verified["ok"] is True
