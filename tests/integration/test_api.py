"""The management API over a real database (SQLite and PostgreSQL): authentication by
short-lived EdDSA tokens, authorization by role, and each caller seeing only its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataspace.api.acts import MAX_BODY
from dataspace.api.app import create_app
from dataspace.api.limits import MAX_HEADER, MAX_HEADERS
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
    assert wrong_key.json()["error"] == "Unauthenticated"
    assert "signature does not match" in wrong_key.json()["message"]

    stale = auth(market, "supplier-01", now=datetime.now(UTC) - timedelta(minutes=10))
    assert client.get("/participants", headers=stale).status_code == 401

    fine = client.get("/participants", headers=auth(market, "supplier-01"))
    assert fine.status_code == 200
    assert {p["participant_id"] for p in fine.json()} >= {"operator", "xcmg", "supplier-01"}


def test_operator_only_operations_get_403_for_others(client: TestClient, market: Space) -> None:
    market.register("supplier-02")
    refused = client.post("/participants/supplier-02/admit", headers=auth(market, "xcmg"))
    assert refused.status_code == 403
    assert refused.json()["error"] == "Unauthorized"
    assert "operator" in refused.json()["message"]

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
    assert malformed.json()["error"] == "InvalidInput"

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


# -- one error format, limits (issue 18, B7 and B9) -------------------------------------------


def error_of(response: Any, status: int, kind: str) -> str:
    """The message of an error answer, after checking its status and that its body is
    exactly the one error format."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == kind
    assert body["message"].endswith("."), body["message"]
    return str(body["message"])


def test_a_path_nothing_serves_is_a_404_in_the_error_format(client: TestClient) -> None:
    message = error_of(client.get("/no/such/path"), 404, "NotFound")
    assert "/no/such/path" in message


def test_a_method_a_path_does_not_serve_is_a_405_naming_every_method(client: TestClient) -> None:
    # GET and POST /agreements are two routes: Allow names both.
    refused = client.delete("/agreements")
    assert "GET, POST" in error_of(refused, 405, "MethodNotAllowed")
    assert refused.headers["allow"] == "GET, POST"
    # /participants/{id} would serve GET /participants/registrations, which only takes POST.
    only_post = client.delete("/participants/registrations")
    assert only_post.headers["allow"] == "POST"


def test_a_body_that_is_not_json_is_a_422_in_the_error_format(
    client: TestClient, market: Space
) -> None:
    headers = {**auth(market, "supplier-01"), "Content-Type": "application/json"}
    broken = client.post("/agreements", content=b'{"product_id": ', headers=headers)
    assert "not JSON" in error_of(broken, 422, "InvalidInput")
    not_utf8 = client.post("/agreements", content=b'{"product_id": "\xff"}', headers=headers)
    assert "UTF-8" in error_of(not_utf8, 400, "InvalidInput")
    deep = client.post("/agreements", content=b"[" * 100_000 + b"]" * 100_000, headers=headers)
    error_of(deep, 400, "InvalidInput")


def test_an_unknown_field_is_refused_naming_it(client: TestClient, market: Space) -> None:
    body = {"product_id": "purchase-orders", "purpose": PURPOSE, "sneaky": "x" * 1000}
    refused = client.post("/agreements", json=body, headers=auth(market, "supplier-01"))
    assert "sneaky" in error_of(refused, 422, "InvalidInput")
    assert client.get("/agreements", headers=auth(market, "supplier-01")).json() == []


def test_approving_export_takes_a_boolean_not_a_number(client: TestClient, market: Space) -> None:
    agreement_id = client.post(
        "/agreements",
        json={"product_id": "purchase-orders", "purpose": PURPOSE},
        headers=auth(market, "supplier-01"),
    ).json()["agreement_id"]
    refused = client.post(
        f"/agreements/{agreement_id}/approve",
        json={"export": 0},
        headers=auth(market, "operator"),
    )
    assert "export" in error_of(refused, 422, "InvalidInput")


def test_a_body_over_the_limit_is_a_413_before_it_is_read(
    client: TestClient, market: Space
) -> None:
    headers = {**auth(market, "supplier-01"), "Content-Type": "application/json"}
    declared = client.post("/agreements", content=b" " * (MAX_BODY + 1), headers=headers)
    assert str(MAX_BODY) in error_of(declared, 413, "TooLarge")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(MAX_BODY // 65536 + 2):
            yield b" " * 65536

    streamed = client.post("/agreements", content=chunks(), headers=headers)
    assert "transfer-encoding" in streamed.request.headers
    error_of(streamed, 413, "TooLarge")


def test_an_oversized_header_is_a_431(client: TestClient) -> None:
    huge = {"Authorization": "Bearer " + "a" * (MAX_HEADER + 1)}
    assert "authorization header" in error_of(
        client.get("/participants", headers=huge), 431, "HeadersTooLarge"
    )
    many = {f"X-Filler-{n}": "b" * 4000 for n in range(MAX_HEADERS // 4000 + 1)}
    error_of(client.get("/health", headers=many), 431, "HeadersTooLarge")


def test_an_unsigned_registration_is_a_401_before_its_body_is_read(client: TestClient) -> None:
    refused = client.post("/participants/registrations", json={"id": "x"})
    assert error_of(refused, 401, "Unauthenticated").startswith("Sign the registration")
    assert refused.headers["www-authenticate"] == "Bearer"


def test_an_unexpected_error_is_a_500_without_its_traceback(
    market: Space, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(load_settings(state_dir=tmp_path, database_url=database_url))

    def broken() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        answer = test_client.get("/broken")
    message = error_of(answer, 500, "InternalError")
    assert "secret" not in answer.text
    assert "log" in message
    assert "secret internals" in caplog.text  # the operator finds it in the server's log


def test_openapi_documents_each_status_and_content_type_as_sent(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "message"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    dcat = document["paths"]["/catalog/dcat"]["get"]["responses"]
    assert list(dcat["200"]["content"]) == ["application/ld+json"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {code for code in responses if code >= "400"}
            assert "431" in errors, (method, path)
            if operation.get("security"):
                assert {"401", "403"} <= errors, (method, path)
            if operation.get("requestBody"):
                assert {"413", "422"} <= errors, (method, path)
            for code in errors:
                schema = responses[code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
    # A new request opens a negotiation (201); the same request again answers it (200).
    assert {"200", "201"} <= set(document["paths"]["/agreements"]["post"]["responses"])
    assert document["paths"]["/participants/registrations"]["post"]["requestBody"]
