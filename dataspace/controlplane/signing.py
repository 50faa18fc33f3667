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
from dataspace.controlplane.participants import OPERATOR_ID, party_signing_key, require_active
from dataspace.controlplane.read_models import AgreementView
from dataspace.errors import Unauthorized
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


def agree(
    db: Database, keys: KeyStore, *, provider: str, negotiation_id: str, now: datetime | None = None
) -> AgreementView:
    """The provider agrees: the grade is checked, the document drawn up and signed by it."""
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
        document = _document(row, seller, buyer, policy, now)
        key = party_signing_key(session, keys, provider)
        row.document = agreement_json(document)
        row.provider_signature = b64url_encode(key.sign(agreement_signing_payload(document)))
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
            signature = party_signing_key(session, keys, consumer).sign(payload)
        _check_signature(taker, signature, payload)
        row.consumer_signature = b64url_encode(signature)
        recorder = consumer if keys.has(consumer) else OPERATOR_ID
        facts = {"consumerSignature": row.consumer_signature}
        cs.record_step(session, keys, recorder, "negotiation.verified", row, now=now, facts=facts)
        return cs.view_of(row, None, now)


def finalize(
    db: Database, keys: KeyStore, *, provider: str, negotiation_id: str, now: datetime | None = None
) -> AgreementView:
    """The provider checks both signatures and files the agreement: it is now in force."""
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
            provider,
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


def _check_signature(consumer: ParticipantRow, signature: bytes, payload: bytes) -> None:
    try:
        verify_signature(consumer.public_key, signature, payload)
    except Unauthorized as exc:
        raise Unauthorized(
            f"The signature given for {consumer.id!r} does not verify against its registered "
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
