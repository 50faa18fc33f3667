"""The protocol's messages as we build and read them, against the DSP 2025-1 JSON Schemas."""

from __future__ import annotations

from typing import Any

import pytest

from dataspace.dsp import messages as m
from dataspace.dsp import terms
from dataspace.dsp.messages import ProtocolError, receive
from dataspace.errors import InvalidInput
from dataspace.policy.model import parse_policy
from dataspace.policy.odrl import odrl_policy
from dataspace.scenario import own_rows_offer
from tests.conformance.dsp import errors

P, C = terms.new_pid(), terms.new_pid()
AGREEMENT = terms.agreement_iri("agr-1")


def _offer(target: str | None = None) -> dict[str, Any]:
    return odrl_policy(
        parse_policy(own_rows_offer("urn:test:offer")),
        kind="Offer",
        policy_id=terms.offer_iri("orders-1"),
        assigner=terms.participant_iri("xcmg"),
        target=target,
    )


BUILT = {
    "ContractRequestMessage": m.contract_request(
        C, _offer(terms.dataset_iri("orders")), callback_address="http://c/dsp"
    ),
    "ContractOfferMessage": m.contract_offer(
        P, _offer(terms.dataset_iri("orders")), consumer_pid=C
    ),
    "ContractAgreementVerificationMessage": m.agreement_verification(P, C),
    "ContractNegotiationEventMessage": m.negotiation_event(P, C, "FINALIZED"),
    "ContractNegotiationTerminationMessage": m.negotiation_termination(P, C, "rejected", "no"),
    "ContractNegotiation": m.contract_negotiation(P, C, "REQUESTED"),
    "TransferRequestMessage": m.transfer_request(C, AGREEMENT, "HttpData-PULL", "http://c/dsp"),
    "TransferProcess": m.transfer_process(P, C, "STARTED"),
    "TransferStartMessage": m.transfer_start(
        P, C, m.data_address("https://w3id.org/idsa/v4.1/HTTP", "http://p/x", {"a": "b"})
    ),
    "TransferCompletionMessage": m.transfer_completion(P, C),
    "TransferTerminationMessage": m.transfer_termination(P, C, "ended", "revoked"),
    "TransferSuspensionMessage": m.transfer_suspension(P, C, "party-suspended", "suspended"),
}


@pytest.mark.parametrize("kind", sorted(BUILT))
def test_every_message_we_build_is_valid_dsp(kind: str) -> None:
    assert BUILT[kind]["@type"] == kind
    assert errors(BUILT[kind]) == []


@pytest.mark.parametrize(
    "error_type", ["ContractNegotiationError", "TransferError", "CatalogError"]
)
def test_our_error_messages_are_valid_dsp(error_type: str) -> None:
    refusal = ProtocolError(400, "bad-request", "why", error_type=error_type, provider_pid=P)
    assert errors(refusal.to_message()) == []
    assert refusal.to_message()["reason"] == ["why"]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ([], "not a JSON object"),
        ({"@type": "ContractRequestMessage"}, "@context must be a list"),
        ({"@context": "https://w3id.org/dspace/2025/1/context.jsonld",
          "@type": "ContractRequestMessage"}, "@context must be a list"),
        ({"@context": terms.CONTEXT, "@type": "TransferProcess"}, "Expected a ContractRequest"),
    ],
)  # fmt: skip
def test_a_message_of_the_wrong_shape_is_refused_with_a_sentence(body: object, said: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        receive(body, "ContractRequestMessage")
    assert refused.value.status == 400
    assert said in refused.value.reason
    assert errors(refused.value.to_message()) == []


def test_a_missing_or_mistyped_property_is_named() -> None:
    received = receive({"@context": terms.CONTEXT, "@type": "X", "consumerPid": 3}, "X")
    with pytest.raises(ProtocolError, match="has no consumerPid"):
        received.text("consumerPid")
    with pytest.raises(ProtocolError, match="has no offer"):
        received.mapping("offer")
    assert received.text("providerPid", required=False) is None


@pytest.mark.parametrize(
    ("read", "iri", "expected"),
    [
        (terms.product_of, "urn:dataspace:product:orders", "orders"),
        (terms.product_of, "orders", "orders"),
        (terms.offer_of, "urn:dataspace:offer:orders-1", "orders-1"),
        (terms.agreement_of, "urn:dataspace:agreement:agr-1", "agr-1"),
        (terms.participant_of, "urn:dataspace:participant:xcmg", "xcmg"),
    ],
)
def test_our_iris_read_back_into_ids(read: Any, iri: str, expected: str) -> None:
    assert read(iri) == expected


@pytest.mark.parametrize(
    ("read", "iri"),
    [
        (terms.offer_of, "CD123:ACN0101:456"),
        (terms.agreement_of, "urn:dataspace:offer:x"),
        (terms.product_of, "urn:dataspace:product:../etc"),
        (terms.participant_of, "urn:dataspace:participant:UPPER"),
    ],
)
def test_an_iri_that_is_not_ours_is_refused(read: Any, iri: str) -> None:
    with pytest.raises(InvalidInput):
        read(iri)


def test_a_pull_token_never_reaches_the_message_log(tmp_path: Any) -> None:
    from dataspace.dsp.trace import FILE_NAME, MessageLog, read  # noqa: PLC0415

    log = MessageLog(tmp_path)
    start = m.transfer_start(P, C, m.data_address("t", "e", {"authorization": "s3cr3t"}))
    log.record("server", "x", "POST", "/dsp/transfers/p/start", (start, 200, None))
    assert "s3cr3t" not in (tmp_path / FILE_NAME).read_text()
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600
    assert (
        read(tmp_path / FILE_NAME)[0]["request"]["dataAddress"]["endpointProperties"][0]["value"]
        == "***"
    )
