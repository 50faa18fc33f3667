"""The Dataspace Protocol 2025-1 between two connectors, each its own process.

A provider's and a consumer's connector (`dataspace connector serve`) negotiate and transfer
with protocol messages only; each files its own steps with the hub. Every message either
side sent or accepted is checked against the protocol's own JSON Schemas
(tests/conformance/dsp-2025-1), and the ledger must hold the same evidence as on the
hub-mediated path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dataspace.config import Settings
from dataspace.connector.hub_client import HubClient
from dataspace.dsp.terms import CONTEXT
from dataspace.dsp.trace import FILE_NAME, read
from dataspace.federation import CommandFailed, Federation, Party
from dataspace.identity.acts import mint_act
from dataspace.identity.keys import load_private_key
from dataspace.identity.uscc import make_uscc
from dataspace.scenario import own_rows_offer
from tests.conformance.dsp import errors
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e

OPERATOR_USCC = make_uscc("12320000MB0000001")
ORDERS_CSV = Path(__file__).resolve().parents[2] / "examples" / "purchase-orders-2026-W02.csv"
CHAIN = "construction-machinery"


def _uscc(n: int) -> str:
    return make_uscc(f"9132050{n:010d}")


@pytest.fixture(scope="module")
def federation(
    stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Federation]:
    with Federation(tmp_path_factory.mktemp("dsp"), stack_settings) as space:
        space.start_hub(name="江苏省数据枢纽（测试）", uscc=OPERATOR_USCC)
        yield space


@pytest.fixture(scope="module")
def leader(federation: Federation) -> Party:
    party = federation.join("xcmg", name="XCMG", uscc=_uscc(1), roles=("chain_leader",),
                            chains=(CHAIN,), provider=True)  # fmt: skip
    federation.operator("participant", "admit", "xcmg")
    federation.serve(party)
    return party


@pytest.fixture(scope="module")
def supplier(federation: Federation) -> Party:
    party = federation.join("supplier-31", name="Supplier 31", uscc=_uscc(131),
                            roles=("supplier",), chains=(CHAIN,), served=True)  # fmt: skip
    federation.operator("participant", "admit", "supplier-31")
    federation.serve(party)
    return party


def _product(federation: Federation, leader: Party, product: str, tmp: Path) -> None:
    offer = tmp / f"{product}.json"
    offer.write_text(json.dumps(own_rows_offer(f"urn:test:{product}")), encoding="utf-8")
    federation.connector(
        leader, "product", "create", "--id", product, "--title-zh", "采购订单",
        "--title-en", "Purchase orders", "--schema", "purchase_orders", "--suite",
        "purchase_orders", "--chain", CHAIN, "--offer", str(offer),
    )  # fmt: skip


def _processes(federation: Federation, party: Party) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = federation.connector(party, "dsp", "list")
    return listed


def _state(federation: Federation, party: Party, agreement: str, kind: str) -> str | None:
    for process in _processes(federation, party):
        if process["agreement_id"] == agreement and process["kind"] == kind:
            return str(process["state"])
    return None


def _requested(federation: Federation, leader: Party, supplier: Party, product: str) -> str:
    """The supplier requests over DSP; the provider's connector holds the request."""
    requested = federation.connector(
        supplier, "dsp", "negotiate", "--provider", str(leader.endpoint), "--dataset", product,
        "--purpose", "supply-planning", "--wait", "0",
    )  # fmt: skip
    agreement = str(requested["agreement_id"])
    wait_for(lambda: _state(federation, leader, agreement, "negotiation") == "REQUESTED",
             timeout=30)  # fmt: skip
    return agreement


def _negotiate(federation: Federation, leader: Party, supplier: Party, product: str) -> str:
    agreement = _requested(federation, leader, supplier, product)
    federation.connector(leader, "agreement", "sign", agreement)  # the provider agrees
    wait_for(lambda: _state(federation, supplier, agreement, "negotiation") == "FINALIZED",
             timeout=60)  # fmt: skip
    wait_for(lambda: _state(federation, leader, agreement, "negotiation") == "FINALIZED",
             timeout=30)  # fmt: skip
    return agreement


def _evidence(federation: Federation, agreement: str) -> list[tuple[str, str, str]]:
    entries = federation.operator("ledger", "show", "--limit", "1000")
    return sorted(
        (e["action"], "consumer" if e["actor"].startswith("supplier") else e["actor"],
         e["signed_on"])
        for e in entries if agreement in e["subject_ids"]
    )  # fmt: skip


def test_a_negotiation_and_a_pull_transfer_over_the_protocol_leave_the_hubs_evidence(
    federation: Federation, leader: Party, supplier: Party, tmp_path: Path
) -> None:
    _product(federation, leader, "dsp-orders", tmp_path)
    catalog = federation.connector(supplier, "dsp", "catalog", "--provider", str(leader.endpoint))
    assert errors(catalog) == []
    assert [d["@id"] for d in catalog["dataset"]] == ["urn:dataspace:product:dsp-orders"]

    agreement = _negotiate(federation, leader, supplier, "dsp-orders")
    published = federation.connector(leader, "publish", "--product", "dsp-orders", str(ORDERS_CSV))
    moved = federation.connector(supplier, "dsp", "transfer", "--agreement", agreement)
    assert moved["state"] == "COMPLETED"
    assert len(moved["landed"]) == 1
    landed = supplier.state / "landed" / "dsp-orders" / str(published["version"])
    assert sorted(p.name for p in landed.glob("*.parquet"))
    assert wait_for(lambda: _state(federation, leader, agreement, "transfer") == "COMPLETED",
                    timeout=30)  # fmt: skip

    # The same agreement negotiated and delivered through the hub's own path.
    _product(federation, leader, "hub-orders", tmp_path)
    mediated = federation.connector(supplier, "agreement", "request", "--product", "hub-orders",
                                    "--purpose", "supply-planning")["agreement_id"]  # fmt: skip
    federation.connector(leader, "agreement", "sign", mediated)
    federation.connector(supplier, "agreement", "sign", mediated)
    federation.connector(leader, "publish", "--product", "hub-orders", str(ORDERS_CSV))
    federation.connector(supplier, "subscribe", "--once", "--resync")
    assert _evidence(federation, agreement) == _evidence(federation, mediated)
    assert federation.operator("ledger", "verify")["ok"] is True


def test_every_message_either_side_sent_or_accepted_is_valid_dsp(
    federation: Federation, leader: Party, supplier: Party
) -> None:
    exchanges = [*read(leader.state / "logs" / FILE_NAME),
                 *read(supplier.state / "logs" / FILE_NAME)]  # fmt: skip
    kinds: set[str] = set()
    for exchange in exchanges:
        for message in (exchange["request"], exchange["response"]):
            if isinstance(message, dict) and "@type" in message:
                kinds.add(message["@type"])
                assert errors(message) == [], (exchange["path"], message)
    assert {
        "CatalogRequestMessage", "Catalog", "Dataset", "ContractRequestMessage",
        "ContractNegotiation", "ContractAgreementMessage", "ContractAgreementVerificationMessage",
        "ContractNegotiationEventMessage", "TransferRequestMessage", "TransferProcess",
        "TransferStartMessage", "TransferCompletionMessage",
    } <= kinds  # fmt: skip


def test_a_subscription_is_suspended_and_terminated_with_its_agreement(
    federation: Federation, leader: Party, supplier: Party, tmp_path: Path
) -> None:
    _product(federation, leader, "dsp-feed", tmp_path)
    agreement = _negotiate(federation, leader, supplier, "dsp-feed")
    started = federation.connector(supplier, "dsp", "transfer", "--agreement", agreement,
                                   "--format", "DeliveryFeed-PULL")  # fmt: skip
    assert started["state"] == "STARTED"

    def consumer_side() -> str | None:
        return _state(federation, supplier, agreement, "transfer")

    federation.operator("participant", "suspend", "supplier-31")
    assert wait_for(lambda: consumer_side() == "SUSPENDED", timeout=30)
    federation.operator("participant", "reinstate", "supplier-31")
    assert wait_for(lambda: consumer_side() == "STARTED", timeout=30)
    # The provider suspended: the hub answers its connector only its own record, which says so.
    federation.operator("participant", "suspend", leader.participant)
    assert wait_for(lambda: consumer_side() == "SUSPENDED", timeout=30)
    federation.operator("participant", "reinstate", leader.participant)
    assert wait_for(lambda: consumer_side() == "STARTED", timeout=30)
    federation.connector(leader, "agreement", "revoke", agreement)
    assert wait_for(lambda: consumer_side() == "TERMINATED", timeout=30)
    assert _state(federation, leader, agreement, "transfer") == "TERMINATED"


def test_connectors_restarted_mid_negotiation_and_mid_transfer_carry_on(
    federation: Federation, leader: Party, supplier: Party, tmp_path: Path
) -> None:
    _product(federation, leader, "dsp-restart", tmp_path)
    agreement = _requested(federation, leader, supplier, "dsp-restart")
    federation.stop(f"{leader.participant}-serve")
    federation.stop(f"{supplier.participant}-serve")
    federation.connector(leader, "agreement", "sign", agreement)  # agreed while both are down
    assert _state(federation, supplier, agreement, "negotiation") == "REQUESTED"
    federation.serve(leader)  # owes the agreement to a consumer that is still down: retries
    assert wait_for(lambda: _state(federation, leader, agreement, "negotiation") == "AGREED",
                    timeout=30)  # fmt: skip
    federation.serve(supplier)
    assert wait_for(lambda: _state(federation, supplier, agreement, "negotiation") == "FINALIZED",
                    timeout=60)  # fmt: skip

    federation.connector(leader, "publish", "--product", "dsp-restart", str(ORDERS_CSV))
    federation.stop(f"{leader.participant}-serve")
    waiting = federation.connector(supplier, "dsp", "transfer", "--agreement", agreement,
                                   "--wait", "3")  # fmt: skip
    assert waiting["state"] == "REQUESTED"  # asked, but the provider is down: kept, retried
    federation.serve(leader)
    assert wait_for(lambda: _state(federation, supplier, agreement, "transfer") == "COMPLETED",
                    timeout=90)  # fmt: skip


def _signed(party: Party, receiver: str, url: str, body: bytes) -> dict[str, str]:
    key = load_private_key(party.state / "keys" / f"{party.participant}.pem")
    path = httpx.URL(url).path
    token = mint_act(party.participant, key, "POST", path, body, receiver=receiver)
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body", "status", "error_type"),
    [
        ("/catalog/request", b'{"@type": "CatalogRequestMessage"}', 400, "CatalogError"),
        ("/catalog/request", b"[1, 2]", 400, "CatalogError"),
        ("/negotiations/request", b"not json", 400, "ContractNegotiationError"),
        ("/negotiations/request", json.dumps({"@context": CONTEXT, "@type": "TransferProcess"})
         .encode(), 400, "ContractNegotiationError"),
        ("/negotiations/request", json.dumps({"@context": CONTEXT,
         "@type": "ContractRequestMessage", "consumerPid": "urn:uuid:1"}).encode(), 400,
         "ContractNegotiationError"),
        ("/negotiations/urn:uuid:nobody/agreement/verification", json.dumps({
            "@context": CONTEXT, "@type": "ContractAgreementVerificationMessage",
            "providerPid": "urn:uuid:nobody", "consumerPid": "urn:uuid:x"}).encode(), 404,
         "ContractNegotiationError"),
        ("/transfers/request", json.dumps({"@context": CONTEXT, "@type": "TransferRequestMessage",
         "consumerPid": "urn:uuid:2", "agreementId": "urn:dataspace:agreement:agr-none",
         "format": "Carrier-Pigeon", "callbackAddress": "http://127.0.0.1:9"}).encode(), 400,
         "TransferError"),
        ("/negotiations/request", b"{" * 5000, 400, "ContractNegotiationError"),
    ],
)  # fmt: skip
def test_a_message_that_breaks_the_schema_gets_the_protocols_error_never_a_500(  # noqa: PLR0917
    leader: Party, supplier: Party, path: str, body: bytes, status: int, error_type: str
) -> None:
    url = f"{leader.endpoint}/dsp{path}"
    answer = httpx.post(url, content=body, headers=_signed(supplier, "xcmg", url, body))
    assert answer.status_code == status, answer.text
    assert answer.json()["@type"] == error_type
    assert errors(answer.json()) == []
    assert answer.json()["reason"][0]


def test_an_unsigned_or_misdirected_request_is_refused_with_the_protocols_error(
    leader: Party, supplier: Party
) -> None:
    url = f"{leader.endpoint}/dsp/catalog/request"
    body = json.dumps({"@context": CONTEXT, "@type": "CatalogRequestMessage"}).encode()
    unsigned = httpx.post(url, content=body)
    misdirected = httpx.post(
        url, content=body, headers=_signed(supplier, "someone-else", url, body)
    )
    headers = _signed(supplier, "xcmg", url, body)
    first = httpx.post(url, content=body, headers=headers)
    replayed = httpx.post(url, content=body, headers=headers)
    assert [unsigned.status_code, misdirected.status_code, first.status_code,
            replayed.status_code] == [401, 401, 200, 401]  # fmt: skip
    for refused in (unsigned, misdirected, replayed):
        assert errors(refused.json()) == []


def test_the_version_document_names_the_binding_and_the_identity_profile(leader: Party) -> None:
    document = httpx.get(f"{leader.endpoint}/.well-known/dspace-version").json()
    assert errors(document, "VersionResponse") == []
    [version] = document["protocolVersions"]
    assert (version["version"], version["path"], version["binding"]) == ("2025-1", "/dsp", "HTTPS")
    assert version["serviceId"] == "urn:dataspace:participant:xcmg"
    assert version["auth"]["protocol"] == "dataspace-act"


def test_a_refused_cli_step_says_why_in_one_sentence(
    federation: Federation, supplier: Party, leader: Party
) -> None:
    refused = federation.connector(supplier, "dsp", "transfer", "--agreement", "agr-none",
                                   check=False)  # fmt: skip
    assert isinstance(refused, CommandFailed)
    assert "negotiate it with `dataspace connector dsp negotiate` first" in refused.stderr
    assert "Traceback" not in refused.stderr


def _with_count(uid: str, count: int, tmp: Path) -> Path:
    policy = own_rows_offer(uid)
    policy["permission"][0]["constraint"].append(
        {"leftOperand": "deliveryCount", "operator": "lteq", "rightOperand": count}
    )
    path = tmp / f"{count}.json"
    path.write_text(json.dumps(policy), encoding="utf-8")
    return path


@pytest.mark.parametrize("answer", ["accept", "counter"])
def test_a_counter_offer_is_answered_over_the_protocol_and_agreed(
    federation: Federation, leader: Party, supplier: Party, tmp_path: Path, answer: str
) -> None:
    """The provider counters; the consumer accepts, or counters with terms of its own."""
    product = f"dsp-counter-{answer}"
    _product(federation, leader, product, tmp_path)
    agreement = _requested(federation, leader, supplier, product)
    offered = _with_count(f"urn:test:{product}:4", 4, tmp_path)
    federation.connector(leader, "agreement", "counter", agreement, "--offer", str(offered))
    assert wait_for(lambda: _state(federation, supplier, agreement, "negotiation") == "OFFERED",
                    timeout=30)  # fmt: skip
    if answer == "accept":
        federation.connector(supplier, "agreement", "accept", agreement)
        middle = "ACCEPTED"
    else:
        unfiled = _counter_request(leader, supplier, _process(federation, supplier, agreement))
        assert (unfiled.status_code, unfiled.json()["code"]) == (400, "not-on-record")
        asked = _with_count(f"urn:test:{product}:8", 8, tmp_path)
        federation.connector(supplier, "agreement", "counter", agreement, "--offer", str(asked))
        middle = "REQUESTED"
    assert wait_for(lambda: _state(federation, leader, agreement, "negotiation") == middle,
                    timeout=30)  # fmt: skip
    federation.connector(leader, "agreement", "sign", agreement)
    assert wait_for(lambda: _state(federation, supplier, agreement, "negotiation") == "FINALIZED",
                    timeout=60)  # fmt: skip
    mine = [p for p in _processes(federation, supplier) if p["agreement_id"] == agreement]
    assert [h["state"] for h in mine[0]["history"]] == [
        "REQUESTED", "OFFERED", middle, "AGREED", "VERIFIED", "FINALIZED",
    ]  # fmt: skip
    terms = federation.connector(supplier, "agreement", "show", agreement)["policy"]
    count = [c for c in terms["permission"][0]["constraint"] if c["leftOperand"] == "deliveryCount"]
    assert count[0]["rightOperand"] == (4 if answer == "accept" else 8)
    assert federation.operator("ledger", "verify")["ok"] is True  # each step attested
    late = _counter_request(leader, supplier, _process(federation, supplier, agreement))
    assert (late.status_code, late.json()["code"]) == (400, "invalid-state")


def _process(federation: Federation, party: Party, agreement: str) -> dict[str, Any]:
    [process] = [
        p for p in _processes(federation, party)
        if p["agreement_id"] == agreement and p["kind"] == "negotiation"
    ]  # fmt: skip
    return process


def _counter_request(leader: Party, supplier: Party, process: dict[str, Any]) -> httpx.Response:
    """A counter-request sent straight to the provider, not filed with the hub first."""
    url = f"{leader.endpoint}/dsp/negotiations/{process['peer_pid']}/request"
    offer = {"@id": "urn:dataspace:offer:x", "@type": "Offer", "permission": [{"action": "use"}]}
    message = {
        "@context": CONTEXT,
        "@type": "ContractRequestMessage",
        "providerPid": process["peer_pid"],
        "consumerPid": process["pid"],
        "offer": offer,
    }
    body = json.dumps(message).encode()
    return httpx.post(url, content=body, headers=_signed(supplier, "xcmg", url, body))


@pytest.mark.parametrize("who", ["provider", "consumer"])
def test_either_party_terminates_a_negotiation_and_the_other_side_is_told(
    federation: Federation, leader: Party, supplier: Party, tmp_path: Path, who: str
) -> None:
    product = f"dsp-reject-{who}"
    _product(federation, leader, product, tmp_path)
    agreement = _requested(federation, leader, supplier, product)
    actor, other = (leader, supplier) if who == "provider" else (supplier, leader)
    federation.connector(actor, "agreement", "reject", agreement)
    assert wait_for(lambda: _state(federation, other, agreement, "negotiation") == "TERMINATED",
                    timeout=30)  # fmt: skip
    assert _state(federation, actor, agreement, "negotiation") == "TERMINATED"


def test_the_consumer_suspends_resumes_and_terminates_its_subscription(
    federation: Federation, leader: Party, supplier: Party, tmp_path: Path
) -> None:
    _product(federation, leader, "dsp-pause", tmp_path)
    agreement = _negotiate(federation, leader, supplier, "dsp-pause")
    started = federation.connector(supplier, "dsp", "transfer", "--agreement", agreement,
                                   "--format", "DeliveryFeed-PULL")  # fmt: skip
    pid = started["pid"]

    def provider_side() -> str | None:
        return _state(federation, leader, agreement, "transfer")

    wait_for(lambda: provider_side() == "STARTED", timeout=30)
    assert federation.connector(supplier, "dsp", "suspend", pid)["state"] == "SUSPENDED"
    assert wait_for(lambda: provider_side() == "SUSPENDED", timeout=30)
    assert federation.connector(supplier, "dsp", "resume", pid)["state"] == "STARTED"
    assert wait_for(lambda: provider_side() == "STARTED", timeout=30)
    assert federation.connector(supplier, "dsp", "terminate", pid)["state"] == "TERMINATED"
    assert wait_for(lambda: provider_side() == "TERMINATED", timeout=30)
    again = federation.connector(supplier, "dsp", "resume", pid, check=False)
    assert isinstance(again, CommandFailed)
    assert "cannot resume now" in again.stderr


def _signed_get(party: Party, receiver: str, url: str) -> dict[str, str]:
    key = load_private_key(party.state / "keys" / f"{party.participant}.pem")
    token = mint_act(party.participant, key, "GET", httpx.URL(url).path, b"", receiver=receiver)
    return {"Authorization": f"Bearer {token}"}


def test_each_side_answers_the_state_of_its_processes_to_the_other_party_only(
    federation: Federation, leader: Party, supplier: Party
) -> None:
    processes = [p for p in _processes(federation, supplier) if p["peer_pid"]]
    kinds = {p["kind"] for p in processes}
    assert kinds == {"negotiation", "transfer"}
    outsider = federation.join("supplier-32", name="Supplier 32", uscc=_uscc(132),
                               roles=("supplier",), chains=(CHAIN,))  # fmt: skip
    federation.operator("participant", "admit", "supplier-32")
    for process in processes:
        kind = "negotiations" if process["kind"] == "negotiation" else "transfers"
        url = f"{leader.endpoint}/dsp/{kind}/{process['peer_pid']}"
        answer = httpx.get(url, headers=_signed_get(supplier, "xcmg", url))
        assert answer.status_code == 200, answer.text
        assert errors(answer.json()) == []
        assert answer.json()["state"] == process["state"]
        stranger = httpx.get(url, headers=_signed_get(outsider, "xcmg", url))
        assert stranger.status_code == 404
        assert errors(stranger.json()) == []


def test_the_catalog_pages_with_link_headers_and_names_only_the_providers_own_datasets(
    federation: Federation, leader: Party, supplier: Party, tmp_path: Path
) -> None:
    for product in ("dsp-page-a", "dsp-page-b"):
        _product(federation, leader, product, tmp_path)
    body = json.dumps({"@context": CONTEXT, "@type": "CatalogRequestMessage"}).encode()
    url, seen = f"{leader.endpoint}/dsp/catalog/request?offset=0&limit=1", []
    while url:
        page = httpx.post(url, content=body, headers=_signed(supplier, "xcmg", url, body))
        assert page.status_code == 200, page.text
        assert errors(page.json()) == []
        seen += [dataset["@id"] for dataset in page.json()["dataset"]]
        url = page.links.get("next", {}).get("url", "")
    assert len(seen) == len(set(seen)) >= 2
    assert {"urn:dataspace:product:dsp-page-a", "urn:dataspace:product:dsp-page-b"} <= set(seen)

    one = f"{leader.endpoint}/dsp/catalog/datasets/urn:dataspace:product:dsp-page-a"
    found = httpx.get(one, headers=_signed_get(supplier, "xcmg", one))
    assert found.status_code == 200
    assert errors(found.json(), "Dataset") == []
    assert found.json()["hasPolicy"][0]["assigner"] == "urn:dataspace:participant:xcmg"
    missing = f"{leader.endpoint}/dsp/catalog/datasets/urn:dataspace:product:nothing-here"
    absent = httpx.get(missing, headers=_signed_get(supplier, "xcmg", missing))
    assert absent.status_code == 404
    assert absent.json()["@type"] == "CatalogError"
    assert errors(absent.json()) == []


def test_asking_again_while_a_negotiation_is_open_says_which_one_and_files_nothing(
    federation: Federation, leader: Party, supplier: Party, tmp_path: Path
) -> None:
    _product(federation, leader, "dsp-twice", tmp_path)
    agreement = _requested(federation, leader, supplier, "dsp-twice")
    before = len(_processes(federation, supplier))
    again = federation.connector(
        supplier, "dsp", "negotiate", "--provider", str(leader.endpoint), "--dataset",
        "dsp-twice", "--purpose", "supply-planning", "--wait", "0", check=False,
    )  # fmt: skip
    assert isinstance(again, CommandFailed)
    assert f"already have an open negotiation {agreement}" in again.stderr
    assert len(_processes(federation, supplier)) == before
    federation.connector(supplier, "agreement", "reject", agreement)
    assert wait_for(lambda: _state(federation, leader, agreement, "negotiation") == "TERMINATED",
                    timeout=30)  # fmt: skip


def test_a_signed_request_replayed_after_the_connector_restarts_is_still_refused(
    federation: Federation, leader: Party, supplier: Party
) -> None:
    url = f"{leader.endpoint}/dsp/catalog/request"
    body = json.dumps({"@context": CONTEXT, "@type": "CatalogRequestMessage"}).encode()
    headers = _signed(supplier, "xcmg", url, body)
    assert httpx.post(url, content=body, headers=headers).status_code == 200
    federation.stop(f"{leader.participant}-serve")
    federation.serve(leader)
    replayed = httpx.post(url, content=body, headers=headers)
    assert replayed.status_code == 401
    assert "replay" in replayed.json()["reason"][0]


def test_a_counter_request_on_record_at_the_hub_decides_even_if_its_message_is_refused(
    federation: Federation, leader: Party, tmp_path: Path
) -> None:
    """A consumer of another vendor (here: raw requests) files its counter-request at the hub
    but sends a message the provider refuses; the provider takes the hub's record, and the
    message once, later, still."""
    _product(federation, leader, "dsp-foreign", tmp_path)
    foreign = federation.join("supplier-33", name="Supplier 33", uscc=_uscc(133),
                              roles=("supplier",), chains=(CHAIN,))  # fmt: skip
    federation.operator("participant", "admit", "supplier-33")
    hub = HubClient(federation.hub_url, "supplier-33",
                    load_private_key(foreign.state / "keys" / "supplier-33.pem"))  # fmt: skip
    offer = hub.get("/products/dsp-foreign")["offers"][0]
    agreement = hub.post("/agreements", {"product_id": "dsp-foreign", "offer_id": offer["offer_id"],
                                         "purpose": "supply-planning"})["agreement_id"]  # fmt: skip
    consumer_pid = "urn:uuid:00000000-0000-4000-8000-000000000033"
    sent = {
        "@id": f"urn:dataspace:offer:{offer['offer_id']}",
        "@type": "Offer",
        "target": "urn:dataspace:product:dsp-foreign",
        "permission": [{"action": "use"}],
    }
    first = _send(foreign, leader, "/negotiations/request", {
        "@type": "ContractRequestMessage", "consumerPid": consumer_pid, "offer": sent,
        "callbackAddress": "http://127.0.0.1:9/dsp"})  # fmt: skip
    assert first.status_code == 201, first.text
    provider_pid = first.json()["providerPid"]
    federation.connector(leader, "agreement", "counter", agreement, "--offer",
                         str(_with_count("urn:test:dsp-foreign:4", 4, tmp_path)))  # fmt: skip
    assert wait_for(lambda: _state(federation, leader, agreement, "negotiation") == "OFFERED",
                    timeout=30)  # fmt: skip
    hub.post(f"/agreements/{agreement}/counter-request", {"policy": offer["policy"]})
    counter = {
        "@type": "ContractRequestMessage",
        "providerPid": provider_pid,
        "consumerPid": consumer_pid,
        "offer": {**sent, "target": "urn:dataspace:product:x"},
    }
    wrong = _send(foreign, leader, f"/negotiations/{provider_pid}/request", counter)
    assert (wrong.status_code, wrong.json()["code"]) == (400, "offer-mismatch")
    assert wait_for(lambda: _state(federation, leader, agreement, "negotiation") == "REQUESTED",
                    timeout=30)  # fmt: skip
    counter["offer"] = sent
    late = _send(foreign, leader, f"/negotiations/{provider_pid}/request", counter)
    again = _send(foreign, leader, f"/negotiations/{provider_pid}/request", counter)
    assert (late.status_code, again.status_code) == (200, 400)
    hub.close()


def _send(sender: Party, receiver: Party, path: str, message: dict[str, Any]) -> httpx.Response:
    url = f"{receiver.endpoint}/dsp{path}"
    body = json.dumps({"@context": CONTEXT, **message}).encode()
    return httpx.post(url, content=body,
                      headers=_signed(sender, receiver.participant, url, body))  # fmt: skip
