"""The management API over a real database (SQLite and PostgreSQL): authentication by
short-lived EdDSA tokens, authorization by role, and each caller seeing only its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataspace.api.app import create_app
from dataspace.config import load_settings
from dataspace.identity import tokens
from dataspace.identity.keys import SigningKey
from dataspace.identity.uscc import make_uscc
from dataspace.store import repository
from tests.fixtures.controlplane import PURPOSE, Space

pytestmark = pytest.mark.integration


@pytest.fixture
def client(market: Space, database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    # The `keys` fixture keeps keys in tmp_path/keys, which is <state_dir>/keys here.
    settings = load_settings(state_dir=tmp_path, database_url=database_url)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def auth(space: Space, participant: str, **mint_options: Any) -> dict[str, str]:
    """The header a participant sends: a token signed with its own key."""
    with space.db.transaction() as session:
        registered = repository.get_participant(session, participant).public_key
    key = space.keys.signing_key(participant, registered)
    return {"Authorization": f"Bearer {tokens.mint(participant, key, **mint_options)}"}


def test_no_or_bad_tokens_get_401(client: TestClient, market: Space) -> None:
    missing = client.get("/participants")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"

    garbage = client.get("/participants", headers={"Authorization": "Bearer not.a.token"})
    assert garbage.status_code == 401

    forged = tokens.mint("supplier-01", SigningKey.generate())
    wrong_key = client.get("/participants", headers={"Authorization": f"Bearer {forged}"})
    assert wrong_key.status_code == 401
    assert "signature does not match" in wrong_key.json()["detail"]

    stale = auth(market, "supplier-01", now=datetime.now(UTC) - timedelta(minutes=10))
    assert client.get("/participants", headers=stale).status_code == 401

    fine = client.get("/participants", headers=auth(market, "supplier-01"))
    assert fine.status_code == 200
    assert {p["participant_id"] for p in fine.json()} >= {"operator", "xcmg", "supplier-01"}


def test_operator_only_operations_get_403_for_others(client: TestClient, market: Space) -> None:
    market.register("supplier-02")
    refused = client.post("/participants/supplier-02/admit", headers=auth(market, "xcmg"))
    assert refused.status_code == 403
    assert "operator" in refused.json()["detail"]

    admitted = client.post("/participants/supplier-02/admit", headers=auth(market, "operator"))
    assert admitted.status_code == 200
    assert admitted.json()["status"] == "admitted"


def test_bad_input_is_one_sentence_and_4xx(client: TestClient, market: Space) -> None:
    valid = make_uscc("91320500000000009")
    body = {
        "participant_id": "supplier-09",
        "name": "Nine",
        "uscc": valid[:-1] + ("1" if valid.endswith("0") else "0"),  # wrong check character
        "roles": ["supplier"],
        "region": "CN-JS",
    }
    invalid = client.post("/participants", json=body, headers=auth(market, "operator"))
    assert invalid.status_code == 400
    assert invalid.json()["error"] == "InvalidInput"
    assert "check" in invalid.json()["message"].lower()

    malformed = client.post("/agreements", json={"purpose": 3}, headers=auth(market, "xcmg"))
    assert malformed.status_code == 422

    unknown = client.get("/products/no-such-product", headers=auth(market, "xcmg"))
    assert unknown.status_code == 404
    assert "no-such-product" in unknown.json()["message"]


def test_a_consumer_sees_only_its_own_agreements(client: TestClient, market: Space) -> None:
    market.member("supplier-02")
    requested = client.post(
        "/agreements",
        json={"product_id": "purchase-orders", "purpose": PURPOSE},
        headers=auth(market, "supplier-01"),
    )
    assert requested.status_code == 201
    agreement_id = requested.json()["agreement_id"]

    mine = client.get("/agreements", headers=auth(market, "supplier-01")).json()
    assert [a["agreement_id"] for a in mine] == [agreement_id]
    assert client.get("/agreements", headers=auth(market, "supplier-02")).json() == []
    peek = client.get(f"/agreements/{agreement_id}", headers=auth(market, "supplier-02"))
    assert peek.status_code == 404

    provider_view = client.get(f"/agreements/{agreement_id}", headers=auth(market, "xcmg"))
    assert provider_view.status_code == 200


def test_the_full_negotiation_over_http(client: TestClient, market: Space) -> None:
    agreement_id = client.post(
        "/agreements",
        json={"product_id": "purchase-orders", "purpose": PURPOSE},
        headers=auth(market, "supplier-01"),
    ).json()["agreement_id"]

    cannot = client.post(f"/agreements/{agreement_id}/revoke", headers=auth(market, "supplier-01"))
    assert cannot.status_code == 403  # a consumer may not revoke

    finalized = client.post(f"/agreements/{agreement_id}/accept", headers=auth(market, "xcmg"))
    assert finalized.status_code == 200
    assert finalized.json()["state"] == "FINALIZED"
    assert finalized.json()["provider_signature"]
    assert finalized.json()["consumer_signature"]

    revoked = client.post(f"/agreements/{agreement_id}/revoke", headers=auth(market, "xcmg"))
    assert revoked.json()["state"] == "TERMINATED"

    ledger = client.get("/ledger/verify", headers=auth(market, "supplier-01")).json()
    assert ledger["ok"] is True
    assert ledger["entries_checked"] >= 5


def test_openapi_documents_every_area(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/participants", "/products", "/catalog/dcat", "/agreements", "/ledger/verify"):
        assert path in paths
