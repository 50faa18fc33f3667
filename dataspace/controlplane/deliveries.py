"""Deliveries as the subscriber meets them: download grants and what is due.

Publish writes each delivery row (state ``announced``) with its ledger entry and a
DeliveryAnnounced event. The event carries no way to open the object (ADR 0004); the
subscriber asks for a grant, lands the bytes, and signs a receipt. Rules enforced here:

- **a grant is asked for with a short-lived token** (:mod:`dataspace.identity.tokens`) signed by
  the subscriber's registered key; its subject must be the subscriber named;
- **someone else's delivery reads like a missing one**: both are Unauthorized with the same
  sentence, so delivery ids leak nothing;
- **the agreement is re-checked at the moment of the grant** (in force, both parties active),
  so revocation takes effect at once, also for announcements already in flight. A due
  expiry is recorded then (:func:`agreements.require_in_force`). One exception: an agreement
  that ended because its delivery count was used up still serves the deliveries counted
  under it (the last one is what used it up);
- **a grant is a presigned GET URL** valid :data:`DEFAULT_GRANT_LIFETIME` (at most
  :data:`MAX_GRANT_LIFETIME`) for the object in the node's release bucket
  (``Settings.release_bucket``, see ADR 0007). Grants are reads: each is an audit log line,
  not a ledger entry; the ledger holds the delivery and its receipt, which bracket it;
- **across processes the provider's connector grants** from its own bucket, after asking
  :func:`authorize` (the same checks, asked by the delivery's provider) at that moment;
- **receipts** are :mod:`dataspace.controlplane.receipts`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.adapters.s3 import Presign
from dataspace.canonical import utc_iso
from dataspace.contracts.agreement import agreement_from_json
from dataspace.contracts.negotiation import State, TerminationReason
from dataspace.controlplane import agreements
from dataspace.controlplane.participants import (
    OPERATOR_ID,
    require_active,
)
from dataspace.controlplane.read_models import Authorization, DeliveryView, Grant
from dataspace.errors import Conflict, InvalidInput, NotFound, Unauthorized
from dataspace.identity import tokens
from dataspace.identity.keystore import KeyStore
from dataspace.ids import participant_id
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import (
    AgreementRow,
    DeliveryRow,
    NegotiationRow,
    ParticipantRow,
    ReleaseRow,
)
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)

DEFAULT_GRANT_LIFETIME = timedelta(minutes=5)
MAX_GRANT_LIFETIME = timedelta(minutes=15)


def grant(
    db: Database,
    keys: KeyStore,
    presign: Presign,
    *,
    subscriber: str,
    delivery_id: str,
    token: str,
    lifetime: timedelta = DEFAULT_GRANT_LIFETIME,
    now: datetime | None = None,
) -> Grant:
    """A presigned URL for the subscriber's delivery, if its agreement allows it right now."""
    now = now or utcnow()
    if not timedelta(seconds=1) <= lifetime <= MAX_GRANT_LIFETIME:
        raise InvalidInput(f"A grant lives between 1 s and {MAX_GRANT_LIFETIME}, not {lifetime}.")

    def authenticated(session: Session) -> None:
        _authenticate(session, token, subscriber, now)

    view, object_key = _deliverable(
        db, keys, subscriber, delivery_id, now, authenticate=authenticated
    )
    url = presign(object_key, lifetime)
    log.info(
        "grant issued: delivery=%s subscriber=%s agreement=%s product=%s version=%s expires=%s",
        view.delivery_id,
        subscriber,
        view.agreement_id,
        view.product_id,
        view.version,
        utc_iso(now + lifetime),
    )
    return Grant(
        delivery_id=view.delivery_id,
        url=url,
        expires_at=now + lifetime,
        product_id=view.product_id,
        version=view.version,
        sha256=view.sha256,
        rows=view.rows,
        bytes=view.bytes,
    )


def authorize(
    db: Database,
    keys: KeyStore,
    *,
    provider: str,
    subscriber: str,
    delivery_id: str,
    now: datetime | None = None,
) -> Authorization:
    """What the provider's connector needs to grant ``subscriber`` its delivery, if the
    agreement allows it right now: the same checks as :func:`grant`, asked by the provider
    (whose connector then presigns the object in its own bucket)."""
    now = now or utcnow()
    view, object_key = _deliverable(db, keys, subscriber, delivery_id, now, provider=provider)
    log.info(
        "delivery authorized: delivery=%s provider=%s subscriber=%s agreement=%s",
        view.delivery_id,
        provider,
        subscriber,
        view.agreement_id,
    )
    return Authorization(
        delivery_id=view.delivery_id,
        agreement_id=view.agreement_id,
        provider=view.provider,
        subscriber=view.subscriber,
        object_key=object_key,
        product_id=view.product_id,
        version=view.version,
        sha256=view.sha256,
        rows=view.rows,
        bytes=view.bytes,
    )


def delivery_of(db: Database, *, participant: str, delivery_id: str) -> DeliveryView:
    """One delivery as its subscriber or its provider sees it; UnknownDelivery to others."""
    with db.transaction(read_only=True) as session:
        delivery = session.get(DeliveryRow, delivery_id)
        view = None if delivery is None else view_of(session, delivery)
    if view is None or participant not in (view.subscriber, view.provider):
        raise UnknownDelivery(
            f"{participant!r} has no delivery with id {delivery_id!r}; "
            "check the id in your DeliveryAnnounced event."
        )
    return view


def due_deliveries(
    db: Database, *, subscriber: str, now: datetime | None = None
) -> list[DeliveryView]:
    """The subscriber's deliveries not yet landed that it may fetch now, oldest first.

    For a subscriber that missed announcements (a broker that lost its log): every delivery
    still ``announced`` whose agreement serves it (see the module docstring). Reads only.
    """
    now = now or utcnow()
    query = (
        select(DeliveryRow)
        .where(DeliveryRow.subscriber_id == participant_id(subscriber))
        .where(DeliveryRow.state == "announced")
        .order_by(DeliveryRow.created_at, DeliveryRow.id)
    )
    with db.transaction() as session:
        require_active(session, subscriber, now, "receive deliveries")
        due = []
        for delivery in session.scalars(query):
            agreement = repository.get_agreement(session, delivery.agreement_id)
            if _refusal(agreement, now) is None and _is_active(session, agreement.provider_id, now):
                due.append(view_of(session, delivery))
        return due


class UnknownDelivery(NotFound, Unauthorized):
    """No delivery with this id for this party: someone else's reads like a missing one."""


class OtherContent(Conflict, InvalidInput):
    """A receipt naming other content than the delivery's (a conflict with what was sent)."""


# -- internals ------------------------------------------------------------------------------


def _deliverable(
    db: Database,
    keys: KeyStore,
    subscriber: str,
    delivery_id: str,
    now: datetime,
    *,
    authenticate: Callable[[Session], None] | None = None,
    provider: str | None = None,
) -> tuple[DeliveryView, str]:
    """The subscriber's delivery and its object key, if it may be fetched right now: the
    grant's token authenticates first; a provider asking must be the delivery's.

    One read transaction decides, unless a termination is due (then it is recorded)."""
    with db.transaction(read_only=True) as session:
        _held = _load_grant_rows(session, subscriber, delivery_id)  # kept: see there
        if authenticate is not None:
            authenticate(session)
        delivery = own_delivery(session, subscriber, delivery_id)
        view = view_of(session, delivery)
        if provider is not None and view.provider != provider:
            raise UnknownDelivery(
                f"{provider!r} provides no delivery with id {delivery_id!r} to {subscriber!r}; "
                "check the id the subscriber asked for."
            )
        object_key = delivery.object_key
        decided = _deliverable_unless_due(session, view, now)
    if not decided:
        agreements.record_due_termination(db, keys, view.agreement_id, now)
        with db.transaction(read_only=True) as session:
            if not _deliverable_unless_due(session, view, now):
                raise AssertionError("a termination recorded just now is due again")
    return view, object_key


def _authenticate(session: Session, token: str, subscriber: str, now: datetime) -> None:
    def public_key_of(participant: str) -> str:
        row = session.get(ParticipantRow, participant)
        if row is None:
            raise Unauthorized("The token names a participant this data space does not know.")
        return row.public_key

    claims = tokens.check(token, public_key_of, now=now)
    if claims.subject != subscriber:
        raise Unauthorized(
            f"The token is {claims.subject!r}'s, not {subscriber!r}'s; "
            "mint it with the subscriber's own key."
        )


def _load_grant_rows(session: Session, subscriber: str, delivery_id: str) -> list[object]:
    """Every row a grant reads, in two SELECTs: the checks that follow (each a ``session.get``
    of its own) then find them in the session, instead of selecting them one by one. The
    session holds rows weakly: the caller keeps the returned list until it is done."""
    found = session.execute(
        select(DeliveryRow, ReleaseRow, AgreementRow, NegotiationRow)
        .join(ReleaseRow, ReleaseRow.id == DeliveryRow.release_id)
        .join(AgreementRow, AgreementRow.id == DeliveryRow.agreement_id)
        .join(NegotiationRow, NegotiationRow.id == AgreementRow.id)
        .where(DeliveryRow.id == delivery_id)
    ).first()
    parties = {subscriber, OPERATOR_ID}
    if found is not None:
        parties.update((found.AgreementRow.consumer_id, found.AgreementRow.provider_id))
    return [*(found or ()), *repository.participants(session, parties)]


def own_delivery(
    session: Session, subscriber: str, delivery_id: str, *, for_update: bool = False
) -> DeliveryRow:
    """The delivery if it is the subscriber's; Unauthorized alike for others' and missing."""
    delivery = session.get(DeliveryRow, delivery_id, with_for_update=for_update or None)
    if delivery is None or delivery.subscriber_id != subscriber:
        raise UnknownDelivery(
            f"{subscriber!r} has no delivery with id {delivery_id!r}; "
            "check the id in your DeliveryAnnounced event."
        )
    return delivery


def view_of(session: Session, delivery: DeliveryRow) -> DeliveryView:
    release = session.get(ReleaseRow, delivery.release_id)
    agreement = session.get(AgreementRow, delivery.agreement_id)
    if release is None or agreement is None:  # foreign keys make this a corrupted database
        raise Conflict(f"The delivery {delivery.id!r} refers to a missing release or agreement.")
    return DeliveryView(
        delivery_id=delivery.id,
        agreement_id=delivery.agreement_id,
        product_id=release.product_id,
        version=release.version,
        mode=release.mode,
        provider=agreement.provider_id,
        subscriber=delivery.subscriber_id,
        sha256=delivery.sha256,
        rows=delivery.row_count,
        bytes=delivery.byte_size,
        state=delivery.state,
        landed_at=delivery.landed_at,
    )


def _refusal(agreement: AgreementRow, now: datetime) -> str | None:
    """Why deliveries under ``agreement`` may not be fetched at ``now``, or None."""
    if now >= agreement_from_json(agreement.document).valid_until:
        return TerminationReason.EXPIRED.value
    if agreement.state == State.FINALIZED.value:
        return None  # in force, or just used up by its last delivery
    if agreement.termination_reason == TerminationReason.EXHAUSTED.value:
        return None
    return agreement.termination_reason or agreement.state


def _deliverable_unless_due(session: Session, view: DeliveryView, now: datetime) -> bool:
    """True if the delivery may be fetched now; False if its agreement has a termination due
    that is not recorded yet. Conflict if the agreement has ended (except when its delivery
    count was used up: its deliveries are still served), Unauthorized if a party may not."""
    try:
        return agreements.in_force_unless_due(session, view.agreement_id, now) is not None
    except Conflict as ended:
        agreement = repository.get_agreement(session, view.agreement_id)
        reason = _refusal(agreement, now)
        if reason is not None:
            log.info("grant refused: delivery=%s reason=%s", view.delivery_id, reason)
            raise Conflict(
                f"The agreement {view.agreement_id!r} has ended ({reason}), so the "
                f"delivery {view.delivery_id!r} can no longer be fetched; request the "
                "product again."
            ) from ended
        require_active(session, agreement.consumer_id, now, "receive deliveries")
        require_active(session, agreement.provider_id, now, "deliver")
        return True


def _is_active(session: Session, participant: str, now: datetime) -> bool:
    try:
        require_active(session, participant, now, "deliver")
    except Unauthorized:
        return False
    return True
