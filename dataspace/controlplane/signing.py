"""Concluding an agreement: the provider agrees, the consumer verifies, the provider finalizes.

Each step is one transaction with one ledger entry and one event (keyed by the consumer):

- **agree** (REQUESTED/ACCEPTED -> AGREED): both parties must be active and the grade's
  conditions must hold (:func:`dataspace.policy.grades.check_grade`): no raw delivery of
  core-grade data, the operator's approval for important and core, an export approval on
  record for a recipient outside CN. The provider draws up the agreement document and signs
  its RFC 8785 canonical JSON.
- **verify** (AGREED -> VERIFIED): the consumer signs the same document. A remote consumer's
  signature can be passed in instead; it is checked against the registered key, and since
  the consumer's key is not on this node the operator seals the ledger entry as recorder.
- **finalize** (VERIFIED -> FINALIZED): both signatures are checked against the registry and
  the agreement is filed with both credit codes; it is now in force.

Repeating a step that already happened returns the current view and records nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dataspace.contracts.agreement import (
    Agreement,
    Party,
    agreement_from_json,
    agreement_json,
    agreement_signing_payload,
    verify_agreement,
)
from dataspace.contracts.negotiation import Event, State
from dataspace.controlplane import contract_state as cs
from dataspace.controlplane.participants import local_signing_key, require_active
from dataspace.controlplane.read_models import AgreementView
from dataspace.errors import Conflict, DataspaceError, InvalidInput, Unauthorized
from dataspace.identity.keys import b64url_decode, b64url_encode
from dataspace.identity.keys import verify as verify_signature
from dataspace.identity.keystore import KeyStore
from dataspace.policy.grades import Grade, check_grade
from dataspace.policy.model import Policy, parse_policy
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import AgreementRow, NegotiationRow, ParticipantRow
from dataspace.store.types import utcnow

DEFAULT_TERM = timedelta(days=365)
DRAFT_AGE = timedelta(minutes=10)  # how old a draft a remote provider may sign
CLOCK_SKEW = timedelta(seconds=30)


def draft(
    db: Database, *, provider: str, negotiation_id: str, now: datetime | None = None
) -> dict[str, object]:
    """The agreement document the provider would sign now (for a provider whose key is on
    its own connector: it signs this and sends it back with :func:`agree`)."""
    now = now or utcnow()
    with db.transaction(read_only=True) as session:
        row = cs.visible_negotiation(session, provider, negotiation_id)
        cs.require_party(row, provider, "provider", "agree")
        seller = require_active(session, provider, now, "negotiate")
        buyer = require_active(session, row.consumer_id, now, "negotiate")
        policy = parse_policy(row.policy)
        _check_grade(session, row, policy, buyer)
        return agreement_json(_document(row, seller, buyer, policy, now))


def agree(
    db: Database,
    keys: KeyStore,
    *,
    provider: str,
    negotiation_id: str,
    now: datetime | None = None,
    document: dict[str, object] | None = None,
    signature: bytes | None = None,
) -> AgreementView:
    """The provider agrees: the grade is checked, the document drawn up and signed by it.

    A provider whose key is on its own connector passes the ``document`` it signed (a
    :func:`draft`, at most :data:`DRAFT_AGE` old) and its ``signature``.
    """
    now = now or utcnow()
    with db.transaction() as session:
        row = cs.visible_negotiation(session, provider, negotiation_id, for_update=True)
        cs.require_party(row, provider, "provider", "agree")
        if State(row.state) in (State.AGREED, State.VERIFIED, State.FINALIZED):
            return cs.view_of(row, None, now)
        seller = require_active(session, provider, now, "negotiate")
        buyer = require_active(session, row.consumer_id, now, "negotiate")
        policy = parse_policy(row.policy)
        _check_grade(session, row, policy, buyer)
        if not cs.advance(row, Event.AGREE, now):
            return cs.view_of(row, None, now)
        drawn = _document(row, seller, buyer, policy, now)
        if signature is None:
            key = local_signing_key(session, keys, provider)
            signature = key.sign(agreement_signing_payload(drawn))
        else:
            drawn = _signed_draft(row, seller, buyer, policy, document, now)
            _check_signature(seller, signature, agreement_signing_payload(drawn))
        row.document = agreement_json(drawn)
        row.provider_signature = b64url_encode(signature)
        cs.record_step(
            session,
            keys,
            provider,
            "negotiation.agreed",
            row,
            now=now,
            facts={"document": row.document},
        )
        return cs.view_of(row, None, now)


def verify(
    db: Database,
    keys: KeyStore,
    *,
    consumer: str,
    negotiation_id: str,
    signature: bytes | None = None,
    now: datetime | None = None,
) -> AgreementView:
    """The consumer signs the agreed document (or its remote ``signature`` is checked)."""
    now = now or utcnow()
    with db.transaction() as session:
        row = cs.visible_negotiation(session, consumer, negotiation_id, for_update=True)
        cs.require_party(row, consumer, "consumer", "verify the agreement")
        if State(row.state) in (State.VERIFIED, State.FINALIZED):
            return cs.view_of(row, None, now)
        taker = require_active(session, consumer, now, "negotiate")
        if not cs.advance(row, Event.VERIFY, now):
            return cs.view_of(row, None, now)
        payload = agreement_signing_payload(agreement_from_json(row.document or {}))
        if signature is None:
            signature = local_signing_key(session, keys, consumer).sign(payload)
        _check_signature(taker, signature, payload)
        row.consumer_signature = b64url_encode(signature)
        facts = {"consumerSignature": row.consumer_signature}
        cs.record_step(session, keys, consumer, "negotiation.verified", row, now=now, facts=facts)
        return cs.view_of(row, None, now)


def finalize(
    db: Database,
    keys: KeyStore,
    *,
    provider: str,
    negotiation_id: str,
    now: datetime | None = None,
    recorder: str | None = None,
) -> AgreementView:
    """Both signatures are checked against the registry and the agreement is filed: it is
    now in force. The provider files it on a node that holds its key; the hub files it
    (``recorder`` = the operator) once the consumer's signature arrives from its connector:
    the ledger then shows both parties' signed steps before the operator's filing."""
    now = now or utcnow()
    with db.transaction() as session:
        row = cs.visible_negotiation(session, provider, negotiation_id, for_update=True)
        cs.require_party(row, provider, "provider", "finalize the agreement")
        seller = require_active(session, provider, now, "negotiate")
        buyer = require_active(session, row.consumer_id, now, "negotiate")
        if not cs.advance(row, Event.FINALIZE, now):
            return cs.view_of(row, session.get(AgreementRow, row.id), now)
        document = agreement_from_json(row.document or {})
        verify_agreement(
            document,
            b64url_decode(row.provider_signature or ""),
            b64url_decode(row.consumer_signature or ""),
            seller.public_key,
            buyer.public_key,
        )
        agreement = _agreement_row(row, document)
        session.add(agreement)
        session.flush()
        cs.record_step(
            session,
            keys,
            recorder or provider,
            "agreement.finalized",
            row,
            now=now,
            facts={"document": row.document},
            event="AgreementConcluded",
        )
        return cs.view_of(row, agreement, now)


# -- internals ------------------------------------------------------------------------------


def _check_grade(
    session: Session, row: NegotiationRow, policy: Policy, buyer: ParticipantRow
) -> None:
    product = repository.get_product(session, row.product_id)
    check_grade(
        Grade(product.grade), policy, buyer.region, row.operator_approved, row.export_approved
    )


def _document(
    row: NegotiationRow,
    seller: ParticipantRow,
    buyer: ParticipantRow,
    policy: Policy,
    now: datetime,
) -> Agreement:
    return Agreement(
        agreement_id=row.id,
        product_id=row.product_id,
        provider=Party(seller.id, seller.uscc),
        consumer=Party(buyer.id, buyer.uscc),
        policy=policy,
        valid_from=now,
        valid_until=row.valid_until or now + DEFAULT_TERM,
        max_deliveries=row.max_deliveries,
    )


def _signed_draft(  # noqa: PLR0917 (the negotiation, its parties and terms, what was signed)
    row: NegotiationRow,
    seller: ParticipantRow,
    buyer: ParticipantRow,
    policy: Policy,
    document: dict[str, object] | None,
    now: datetime,
) -> Agreement:
    """The document a remote provider signed, if it is a recent draft of this negotiation."""
    try:
        signed = agreement_from_json(document or {})
    except (DataspaceError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"The agreement document sent for {row.id} is not a valid agreement document; "
            "sign the draft the hub gives (GET /agreements/{id}/draft)."
        ) from exc
    if not now - DRAFT_AGE <= signed.valid_from <= now + CLOCK_SKEW:
        raise Conflict(
            f"The draft signed for {row.id} was drawn up at {signed.valid_from:%Y-%m-%d %H:%M} "
            "UTC, too long ago; ask for a new draft and sign it."
        )
    expected = _document(row, seller, buyer, policy, signed.valid_from)
    if agreement_json(expected) != agreement_json(signed):
        raise Conflict(
            f"The document signed for {row.id} is not the negotiated one (parties, product, "
            "policy or terms differ); ask for the draft again and sign it as it is."
        )
    return signed


def _check_signature(signer: ParticipantRow, signature: bytes, payload: bytes) -> None:
    try:
        verify_signature(signer.public_key, signature, payload)
    except Unauthorized as exc:
        raise Unauthorized(
            f"The signature given for {signer.id!r} does not verify against its registered "
            "key; sign the agreement document again with the participant's own key."
        ) from exc


def _agreement_row(row: NegotiationRow, document: Agreement) -> AgreementRow:
    return AgreementRow(
        id=row.id,
        negotiation_id=row.id,
        product_id=row.product_id,
        provider_id=row.provider_id,
        consumer_id=row.consumer_id,
        provider_uscc=document.provider.uscc,
        consumer_uscc=document.consumer.uscc,
        policy=row.policy,
        purpose=row.purpose,
        document=row.document or {},
        provider_signature=row.provider_signature or "",
        consumer_signature=row.consumer_signature or "",
        state=State.FINALIZED.value,
        valid_from=document.valid_from,
        valid_until=document.valid_until,
        max_deliveries=document.max_deliveries,
        deliveries_made=0,
        operator_approved=row.operator_approved,
        export_approved=row.export_approved,
    )
