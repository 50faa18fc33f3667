import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity import membership
from dataspace.identity.keys import SigningKey
from dataspace.identity.membership import (
    Registration,
    issue_membership,
    membership_payload,
    verify_membership,
)
from dataspace.identity.uscc import make_uscc
from dataspace.policy.vocabulary import Role

ISSUED = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2027, 1, 1, tzinfo=UTC)
OPERATOR = SigningKey.generate()
PARTICIPANT = SigningKey.generate()
CODE = make_uscc("91320500MA2000002")


def _registration(**overrides):
    fields = {
        "participant_id": "supplier-01",
        "name": "苏州精密零部件有限公司",
        "uscc": CODE.lower(),
        "roles": ["supplier"],
        "region": "CN-JS",
        "industry_chains": ["auto"],
    }
    return Registration(**{**fields, **overrides})


def _credential(registration=None):
    return issue_membership(
        registration or _registration(),
        PARTICIPANT.public_key_b64,
        issued_at=ISSUED,
        valid_until=UNTIL,
        operator="operator",
        operator_key=OPERATOR,
    )


def test_registration_normalises_code_and_roles():
    registration = _registration()
    assert registration.uscc == CODE
    assert registration.roles == frozenset({Role.SUPPLIER})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"uscc": CODE[:-1] + ("0" if CODE[-1] != "0" else "1")}, "check character"),
        ({"roles": ["admin"]}, "role 'admin' is unknown"),
        ({"roles": []}, "at least one role"),
        ({"region": "Jiangsu"}, "not an ISO 3166 code"),
        ({"name": ""}, "participant name"),
        ({"participant_id": "Supplier 1"}, "participant id"),
        ({"industry_chains": ["EV battery"]}, "industry chain"),
    ],
)
def test_bad_registrations_are_rejected(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        _registration(**overrides)


def test_issued_credential_verifies_within_its_window():
    credential = _credential()
    verify_membership(credential, OPERATOR.public_key_b64, ISSUED)
    verify_membership(credential, OPERATOR.public_key_b64, UNTIL - timedelta(microseconds=1))
    with pytest.raises(Unauthorized, match="not valid at 2027-01-01T00:00:00Z"):
        verify_membership(credential, OPERATOR.public_key_b64, UNTIL)


def test_credential_signed_by_someone_else_is_refused():
    credential = _credential()
    with pytest.raises(Unauthorized, match="not signed by the operator"):
        verify_membership(credential, PARTICIPANT.public_key_b64, ISSUED)


@pytest.mark.parametrize(
    "change",
    [
        {"public_key": SigningKey.generate().public_key_b64},
        {"valid_until": UNTIL + timedelta(days=365)},
        {"operator": "someone-else"},
        {"registration": _registration(roles=["supplier", "operator"])},
        {"registration": _registration(region="CN-ZJ")},
    ],
)
def test_any_change_to_the_credential_breaks_it(change):
    credential = replace(_credential(), **change)
    with pytest.raises(Unauthorized, match="not signed by the operator"):
        verify_membership(credential, OPERATOR.public_key_b64, ISSUED)


def test_a_verified_signature_is_remembered_but_the_window_and_every_field_still_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    membership._require_operator_signed.cache_clear()  # this test counts from an empty memory
    checked = []
    real_verify = membership.verify_signature
    monkeypatch.setattr(
        membership, "verify_signature", lambda *args: checked.append(args) or real_verify(*args)
    )
    credential = _credential(_registration(participant_id="supplier-remembered"))
    for _ in range(3):
        verify_membership(credential, OPERATOR.public_key_b64, ISSUED)
    assert len(checked) == 1  # a grant, a decision and a receipt pay for one Ed25519 check
    with pytest.raises(Unauthorized, match="not valid at"):
        verify_membership(credential, OPERATOR.public_key_b64, UNTIL)
    with pytest.raises(Unauthorized, match="not signed by the operator"):
        verify_membership(
            replace(credential, operator="someone-else"), OPERATOR.public_key_b64, ISSUED
        )
    with pytest.raises(Unauthorized, match="not signed by the operator"):
        verify_membership(credential, PARTICIPANT.public_key_b64, ISSUED)
    forged = replace(credential, signature=_credential().signature)
    for _ in range(2):  # a failure is not remembered: it is checked, and refused, again
        with pytest.raises(Unauthorized, match="not signed by the operator"):
            verify_membership(forged, OPERATOR.public_key_b64, ISSUED)
    assert len(checked) == 5


def test_payload_order_of_roles_and_chains_does_not_matter():
    one = _registration(roles=["supplier", "chain_leader"], industry_chains=["a", "b"])
    two = _registration(roles=["chain_leader", "supplier"], industry_chains=["b", "a"])
    key = PARTICIPANT.public_key_b64
    assert membership_payload(one, key, ISSUED, UNTIL, "operator") == membership_payload(
        two, key, ISSUED, UNTIL, "operator"
    )


def test_issue_refuses_bad_key_and_empty_window():
    with pytest.raises(InvalidInput, match="bytes"):
        issue_membership(
            _registration(),
            "AAAA",
            issued_at=ISSUED,
            valid_until=UNTIL,
            operator="operator",
            operator_key=OPERATOR,
        )
    with pytest.raises(InvalidInput, match="must end after"):
        issue_membership(
            _registration(),
            PARTICIPANT.public_key_b64,
            issued_at=ISSUED,
            valid_until=ISSUED,
            operator="operator",
            operator_key=OPERATOR,
        )


def test_a_credential_read_back_from_its_json_verifies_and_one_with_more_fields_is_refused():
    credential = _credential()
    sent = {**json.loads(credential.payload), "signature": credential.signature}

    read = membership.credential_from_json(sent)

    assert read == credential
    verify_membership(read, OPERATOR.public_key_b64, ISSUED + timedelta(days=1))
    with pytest.raises(InvalidInput, match="exactly its fields"):
        membership.credential_from_json({**sent, "note": "trust me"})
    changed = membership.credential_from_json({**sent, "region": "DE"})
    with pytest.raises(Unauthorized, match="not signed by the operator"):
        verify_membership(changed, OPERATOR.public_key_b64, ISSUED + timedelta(days=1))
