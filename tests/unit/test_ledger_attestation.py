"""Entries the hub seals for a participant verify only with that participant's own signed
request, and the operator files an agreement only after both parties' steps."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from dataspace.errors import NotFound
from dataspace.identity.acts import mint_act
from dataspace.identity.keys import SigningKey
from dataspace.ledger.chain import (
    EntryFields,
    LedgerEntry,
    Problem,
    VerifyResult,
    payload_hash,
    seal,
    verify_chain,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OPERATOR, PROVIDER, CONSUMER, MALLORY = "operator", "xcmg", "supplier-01", "mallory"
KEYS = {name: SigningKey.generate() for name in (OPERATOR, PROVIDER, CONSUMER, MALLORY)}
AGREEMENT = "agr-0001"
PRODUCT = "purchase-orders"
SUBJECTS = (AGREEMENT, PRODUCT, CONSUMER, PROVIDER)
ACCEPT = f"/agreements/{AGREEMENT}/accept"


def public_key_of(participant: str) -> str:
    if participant not in KEYS:
        raise NotFound(f"The participant {participant!r} is not registered.")
    return KEYS[participant].public_key_b64


@dataclass(frozen=True)
class Step:
    """One entry to seal: by its actor, or by the hub with the actor's act."""

    actor: str
    action: str
    subjects: tuple[str, ...] = SUBJECTS
    request: tuple[str, str, bytes] | None = None  # method, path, body of the actor's act
    act_key: str | None = None  # whose key signs the act (default: the actor's)
    kept_body: str | None = None  # the body the hub keeps (default: the one signed)
    sealer: str | None = None  # default: the hub with a request, else the actor

    @property
    def signer(self) -> str:
        return self.sealer or (OPERATOR if self.request is not None else self.actor)


def hub(actor: str, action: str, method: str = "POST", path: str = ACCEPT, **more: object) -> Step:
    body = json.dumps(more.pop("body", {})).encode()
    return Step(actor, action, request=(method, path, body), **more)  # type: ignore[arg-type]


def own(actor: str, action: str, subjects: tuple[str, ...] = SUBJECTS) -> Step:
    return Step(actor, action, subjects)


def requested(product: str = PRODUCT) -> Step:
    """The consumer asks for an agreement on ``product`` (named in the body, not the path)."""
    return hub(CONSUMER, "negotiation.requested", path="/agreements", body={"product_id": product})


def ledger(*steps: Step) -> list[LedgerEntry]:
    entries: list[LedgerEntry] = []
    for index, step in enumerate(steps):
        fields = EntryFields(
            time=T0 + timedelta(minutes=index),
            actor=step.actor,
            action=step.action,
            subject_ids=step.subjects,
            payload_hash=payload_hash({"step": index}),
        )
        fields = replace(fields, sealer=step.signer)
        if step.request is not None:
            method, path, body = step.request
            act_key = KEYS[step.act_key or step.actor]
            act = mint_act(step.actor, act_key, method, path, body, now=fields.time)
            kept = body.decode() if step.kept_body is None else step.kept_body
            fields = replace(fields, attestation=act, act_body=kept)
        entries.append(seal(entries[-1] if entries else None, fields, KEYS[step.signer]))
    return entries


def verify(entries: list[LedgerEntry]) -> VerifyResult:
    return verify_chain(entries, public_key_of)


def assert_refused_at(result: VerifyResult, position: int, why: str) -> None:
    assert (result.ok, result.problem, result.position) == (False, Problem.BAD_SIGNATURE, position)
    assert why in result.message(), result.message()


# -- one entry sealed by the hub --------------------------------------------------------------


def test_a_hub_sealed_entry_with_its_actors_act_verifies() -> None:
    entries = ledger(
        requested(),
        hub(PROVIDER, "negotiation.agreed"),
    )

    result = verify(entries)

    assert result.ok, result.message()
    assert [entry.signer for entry in entries] == [OPERATOR, OPERATOR]
    assert all(entry.attestation for entry in entries)


@pytest.mark.parametrize(
    ("step", "why"),
    [
        pytest.param(own(PROVIDER, "negotiation.agreed"), None, id="control: sealed by its actor"),
        pytest.param(
            Step(PROVIDER, "negotiation.agreed", sealer=OPERATOR),
            "without 'xcmg''s signed request",
            id="no act",
        ),
        pytest.param(
            hub(PROVIDER, "negotiation.agreed", act_key=MALLORY),
            "its act is not signed by 'xcmg'",
            id="act signed by the wrong key",
        ),
        pytest.param(
            hub(PROVIDER, "negotiation.agreed", kept_body='{"price": 1}'),
            "the request body it keeps is not the one its actor signed",
            id="changed act body",
        ),
        pytest.param(
            hub(PROVIDER, "negotiation.agreed", path="/agreements/agr-9999/accept"),
            "(POST /agreements/agr-9999/accept) does not ask for 'negotiation.agreed'",
            id="act for another agreement",
        ),
        pytest.param(
            requested(product="other"),
            "(POST /agreements) does not ask for 'negotiation.requested'",
            id="act about another product",
        ),
        pytest.param(
            hub(PROVIDER, "negotiation.agreed", path=f"/agreements/{AGREEMENT}/reject"),
            f"(POST /agreements/{AGREEMENT}/reject) does not ask for 'negotiation.agreed'",
            id="act that does not allow the action",
        ),
        pytest.param(
            hub(PROVIDER, "negotiation.agreed", method="DELETE"),
            f"(DELETE {ACCEPT}) does not ask for 'negotiation.agreed'",
            id="act for another method",
        ),
        pytest.param(
            hub(CONSUMER, "negotiation.verified", sealer=PROVIDER),
            "it is sealed by 'xcmg', but only the hub records others' acts",
            id="sealed by a party, not the hub",
        ),
    ],
)
def test_a_hub_sealed_entry_needs_its_actors_own_request(step: Step, why: str | None) -> None:
    entries = ledger(own(CONSUMER, "negotiation.requested"), step)

    result = verify(entries)

    if why is None:
        assert result.ok, result.message()
    else:
        assert_refused_at(result, 2, why)
        assert "sequence 2" in result.message()


def test_an_act_kept_in_an_entry_its_actor_sealed_is_refused() -> None:
    honest = ledger(hub(PROVIDER, "negotiation.agreed"))[0]
    fields = EntryFields(
        T0, PROVIDER, "negotiation.agreed", SUBJECTS, honest.payload_hash,
        attestation=honest.attestation, act_body=honest.act_body,
    )  # fmt: skip

    result = verify([seal(None, fields, KEYS[PROVIDER])])

    assert_refused_at(result, 1, "it carries a request but its actor sealed it")


@pytest.mark.parametrize(
    "action", ["participant.registered", "negotiation.verified", "delivery.received"]
)
def test_the_operator_cannot_record_a_party_action_as_its_own(action: str) -> None:
    result = verify(ledger(own(OPERATOR, action)))

    assert_refused_at(result, 1, f"the operator cannot record {action!r} as its own act")


# -- the operator files an agreement ----------------------------------------------------------

OTHER = ("agr-0002", *SUBJECTS[1:])  # another agreement of the same parties


def agreed(subjects: tuple[str, ...] = SUBJECTS) -> Step:
    return hub(PROVIDER, "negotiation.agreed", path=f"/agreements/{subjects[0]}/accept",
               subjects=subjects)  # fmt: skip


def verified(subjects: tuple[str, ...] = SUBJECTS) -> Step:
    return hub(CONSUMER, "negotiation.verified", path=f"/agreements/{subjects[0]}/accept",
               subjects=subjects)  # fmt: skip


AGREED, VERIFIED = agreed(), verified()
FILED = own(OPERATOR, "agreement.finalized")


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param((AGREED, VERIFIED), id="both attested"),
        pytest.param(
            (own(PROVIDER, "negotiation.agreed"), own(CONSUMER, "negotiation.verified")),
            id="both sealed by their actors",
        ),
        pytest.param((VERIFIED, AGREED), id="in either order"),
    ],
)
def test_the_operator_files_an_agreement_after_both_party_steps(steps: tuple[Step, ...]) -> None:
    result = verify(ledger(own(CONSUMER, "negotiation.requested"), *steps, FILED))

    assert result.ok, result.message()
    assert result.entries_checked == 4


@pytest.mark.parametrize(
    ("steps", "missing"),
    [
        pytest.param((), "negotiation.agreed and negotiation.verified", id="neither"),
        pytest.param((VERIFIED,), "negotiation.agreed", id="no agreement"),
        pytest.param((AGREED,), "negotiation.verified", id="no verification"),
        pytest.param(
            (agreed(OTHER), verified(OTHER)),
            "negotiation.agreed and negotiation.verified",
            id="steps of another agreement",
        ),
        pytest.param(
            (
                replace(AGREED, subjects=(PRODUCT, AGREEMENT)),
                replace(VERIFIED, subjects=(PRODUCT, AGREEMENT)),
            ),
            "negotiation.agreed and negotiation.verified",
            id="the agreement named but not first",
        ),
        pytest.param(
            (AGREED, VERIFIED, own(CONSUMER, "negotiation.terminated")),
            "negotiation.agreed and negotiation.verified",
            id="after the negotiation was terminated",
        ),
        pytest.param(
            (AGREED, VERIFIED, FILED),
            "negotiation.agreed and negotiation.verified",
            id="a second time",
        ),
        pytest.param(
            (AGREED, VERIFIED, own(PROVIDER, "agreement.finalized")),
            "negotiation.agreed and negotiation.verified",
            id="after the provider filed it itself",
        ),
    ],
)
def test_the_operator_cannot_file_an_agreement_without_both_party_steps(
    steps: tuple[Step, ...], missing: str
) -> None:
    entries = ledger(own(CONSUMER, "negotiation.requested"), *steps, FILED)

    result = verify(entries)

    assert_refused_at(result, len(entries), f"but no party's {missing} of it comes before")
    assert f"the operator filed the agreement {AGREEMENT!r}" in result.message()


def test_the_operator_cannot_file_an_agreement_it_does_not_name() -> None:
    result = verify(ledger(AGREED, VERIFIED, own(OPERATOR, "agreement.finalized", ())))

    assert_refused_at(result, 3, "the operator filed the agreement '(none named)'")


def test_a_provider_files_its_agreement_itself_on_one_node_as_before() -> None:
    result = verify(ledger(own(PROVIDER, "agreement.finalized")))

    assert result.ok, result.message()


def test_agreements_are_checked_each_on_its_own_steps() -> None:
    filed_other = own(OPERATOR, "agreement.finalized", OTHER)
    entries = ledger(AGREED, agreed(OTHER), VERIFIED, FILED, filed_other)

    result = verify(entries)

    assert_refused_at(result, 5, "the operator filed the agreement 'agr-0002'")
    assert "no party's negotiation.verified of it" in result.message()


def test_the_operator_cannot_file_an_agreement_whose_steps_one_party_took_alone() -> None:
    provider_verifies = hub(PROVIDER, "negotiation.verified", path=ACCEPT, subjects=SUBJECTS)
    entries = ledger(AGREED, provider_verifies, FILED)

    result = verify(entries)

    assert_refused_at(result, 3, f"on steps that one party ({PROVIDER!r}) took alone")
