from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dataspace.contracts.agreement import (
    Agreement,
    Party,
    agreement_from_json,
    agreement_json,
    agreement_signing_payload,
    sign_agreement,
    termination_due,
    verify_agreement,
)
from dataspace.contracts.negotiation import TerminationReason
from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity.keys import SigningKey
from dataspace.identity.uscc import make_uscc
from dataspace.policy.model import parse_policy

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)
POLICY = parse_policy(
    {
        "uid": "urn:policy:forecast",
        "permission": [
            {"action": "use", "duty": [{"action": "filterRows", "column": "supplier_id"}]}
        ],
    }
)
PROVIDER = Party("chain-leader", make_uscc("91320000MA1000001"))
CONSUMER = Party("supplier-01", make_uscc("91320500MA2000002"))


@pytest.fixture
def doc():
    return Agreement("agr-0001", "demand-forecast", PROVIDER, CONSUMER, POLICY, START, END, 52)


@pytest.fixture
def keys():
    return SigningKey.generate(), SigningKey.generate()


def _signed(doc, keys):
    provider, consumer = keys
    return (
        sign_agreement(doc, provider),
        sign_agreement(doc, consumer),
        provider.public_key_b64,
        consumer.public_key_b64,
    )


def test_payload_is_canonical_and_records_both_credit_codes(doc):
    payload = agreement_signing_payload(doc)
    assert payload.startswith(b'{"agreementId":"agr-0001","consumer":{"id":"supplier-01"')
    assert PROVIDER.uscc.encode() in payload
    assert CONSUMER.uscc.encode() in payload
    assert b'"validFrom":"2026-01-01T00:00:00Z"' in payload
    assert agreement_signing_payload(replace(doc)) == payload


def test_both_signatures_verify(doc, keys):
    verify_agreement(doc, *_signed(doc, keys))


@pytest.mark.parametrize(
    "change",
    [
        {"agreement_id": "agr-0002"},
        {"product_id": "other-product"},
        {"consumer": Party("supplier-02", make_uscc("91320500MA2000002"))},
        {"provider": Party("chain-leader", make_uscc("91320000MA1000009"))},
        {"policy": parse_policy({"uid": "urn:policy:forecast", "permission": [{"action": "use"}]})},
        {"valid_until": END + timedelta(seconds=1)},
        {"valid_from": START - timedelta(microseconds=1)},
        {"max_deliveries": 53},
        {"max_deliveries": None},
    ],
)
def test_any_changed_field_breaks_the_signatures(doc, keys, change):
    signatures = _signed(doc, keys)
    with pytest.raises(Unauthorized, match="did not sign agreement"):
        verify_agreement(replace(doc, **change), *signatures)


def test_swapped_or_forged_signatures_name_the_party(doc, keys):
    provider_sig, consumer_sig, provider_pub, consumer_pub = _signed(doc, keys)
    with pytest.raises(Unauthorized, match="provider 'chain-leader'"):
        verify_agreement(doc, consumer_sig, provider_sig, provider_pub, consumer_pub)
    forger = SigningKey.generate()
    with pytest.raises(Unauthorized, match="consumer 'supplier-01'"):
        verify_agreement(doc, provider_sig, sign_agreement(doc, forger), provider_pub, consumer_pub)
    with pytest.raises(Unauthorized, match="same public key"):
        verify_agreement(doc, provider_sig, provider_sig, provider_pub, provider_pub)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agreement_id": "Agr 1"}, "agreement id"),
        ({"product_id": "../x"}, "product id"),
        ({"consumer": PROVIDER}, "two different parties"),
        ({"valid_until": START}, r"ends .* before it starts"),
        ({"valid_from": datetime(2026, 1, 1)}, "no timezone"),
        ({"max_deliveries": -1}, "cannot be negative"),
    ],
)
def test_invalid_agreements_are_rejected(doc, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        replace(doc, **kwargs)


def test_party_requires_a_valid_normalised_credit_code():
    with pytest.raises(InvalidInput, match="check character"):
        Party("supplier-01", "91320500MA20000020")[:0] if False else Party(
            "x", "913205000000000000"
        )
    with pytest.raises(InvalidInput, match="normal form"):
        Party("supplier-01", CONSUMER.uscc.lower())


def test_termination_due(doc):
    assert termination_due(doc, START, 0) is None
    assert termination_due(doc, END - timedelta(microseconds=1), 51) is None
    assert termination_due(doc, END, 0) is TerminationReason.EXPIRED
    assert termination_due(doc, START, 52) is TerminationReason.EXHAUSTED
    assert termination_due(replace(doc, max_deliveries=None), START, 10**6) is None


def test_a_filed_document_reads_back_to_the_same_agreement(doc):
    assert agreement_from_json(agreement_json(doc)) == doc
    broken = {**agreement_json(doc), "provider": {"id": "chain-leader"}}
    with pytest.raises(InvalidInput, match="incomplete or malformed"):
        agreement_from_json(broken)
