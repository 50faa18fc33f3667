"""Agreements in force: who sees them, using them, and how they end.

Rules enforced here:

- a party sees only the negotiations and agreements it is a party to; the operator sees all;
- an agreement is *in force* when it is FINALIZED, its validity has not ended, its delivery
  count is not used up, and both parties are active (a suspended party's agreement is not
  used, but not ended either: reinstatement restores it);
- expiry and exhaustion are evaluated when an agreement is read (the view shows TERMINATED
  with the reason at once) and recorded when it is next used or swept
  (:func:`terminate_due`), with the operator as the recording actor;
- only the provider or the operator revokes; revoking, expiring or exhausting twice records
  nothing new.

Every termination writes one ledger entry and one AgreementTerminated event keyed by the
consumer; a counted delivery is ledger-only (the delivery itself is announced).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from dataspace.contracts.negotiation import State, TerminationReason
from dataspace.controlplane import contract_state as cs
from dataspace.controlplane.participants import OPERATOR_ID, require_active
from dataspace.controlplane.read_models import AgreementView
from dataspace.errors import Conflict, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import AgreementRow, NegotiationRow
from dataspace.store.types import utcnow


def list_agreements(
    db: Database, viewer: str, *, now: datetime | None = None
) -> list[AgreementView]:
    """Every negotiation and agreement ``viewer`` is a party to (all of them for the operator)."""
    now = now or utcnow()
    query = select(NegotiationRow).order_by(NegotiationRow.created_at, NegotiationRow.id)
    if viewer != OPERATOR_ID:
        parties = (NegotiationRow.consumer_id == viewer, NegotiationRow.provider_id == viewer)
        query = query.where(or_(*parties))
    with db.transaction() as session:
        return [
            cs.view_of(row, session.get(AgreementRow, row.id), now)
            for row in session.scalars(query)
        ]


def show(
    db: Database, viewer: str, negotiation_id: str, *, now: datetime | None = None
) -> AgreementView:
    """One negotiation or agreement, if ``viewer`` is a party to it or the operator."""
    now = now or utcnow()
    with db.transaction() as session:
        row = cs.visible_negotiation(session, viewer, negotiation_id)
        return cs.view_of(row, session.get(AgreementRow, row.id), now)


def revoke(
    db: Database, keys: KeyStore, *, actor: str, agreement_id: str, now: datetime | None = None
) -> AgreementView:
    """The provider or the operator withdraws an agreement: TERMINATED (revoked), at once."""
    now = now or utcnow()
    with db.transaction() as session:
        # The agreement row first, then the negotiation: the order every writer locks them in.
        agreement = session.get(AgreementRow, agreement_id, with_for_update=True)
        row = cs.visible_negotiation(session, actor, agreement_id, for_update=True)
        if actor not in (row.provider_id, OPERATOR_ID):
            raise Unauthorized(
                f"Only the provider {row.provider_id!r} or the data-space operator can revoke "
                f"{row.id!r}; a consumer that wants out asks the provider."
            )
        if agreement is None and row.state != State.TERMINATED.value:
            raise Conflict(
                f"{row.id!r} is still being negotiated ({row.state}); reject it instead of "
                "revoking it."
            )
        _end(session, keys, actor, row, agreement, TerminationReason.REVOKED, now)
        return cs.view_of(row, agreement, now)


def require_in_force(
    db: Database, keys: KeyStore, agreement_id: str, *, now: datetime | None = None
) -> AgreementView:
    """The agreement if deliveries may be made under it now; records a due termination.

    Raises Conflict when it has ended (naming the reason) and Unauthorized when a party is
    suspended or no longer admitted.
    """
    now = now or utcnow()
    # Asked at every grant: decided without the write lock unless a termination is due.
    with db.transaction(read_only=True) as session:
        in_force = in_force_unless_due(session, agreement_id, now)
    if in_force is not None:
        return in_force
    record_due_termination(db, keys, agreement_id, now)
    # The termination is committed; only now is the caller refused.
    with db.transaction(read_only=True) as session:
        return _require_finalized(session, *_read(session, agreement_id), now)


def in_force_unless_due(session: Session, agreement_id: str, now: datetime) -> AgreementView | None:
    """:func:`require_in_force` inside the caller's (read) transaction, except that a
    termination that is due but not yet recorded gives None: the caller then records it
    with :func:`record_due_termination` (it needs the write lock) and asks again."""
    row, agreement = _read(session, agreement_id)
    if cs.due_reason(agreement, now) is not None:
        return None
    return _require_finalized(session, row, agreement, now)


def record_due_termination(db: Database, keys: KeyStore, agreement_id: str, now: datetime) -> None:
    """End the agreement if a termination is due at ``now`` (checked again under the lock)."""
    with db.transaction() as session:
        row, agreement = _locked(session, agreement_id)
        due = cs.due_reason(agreement, now)
        if due is not None:
            _end(session, keys, OPERATOR_ID, row, agreement, due, now)


def _require_finalized(
    session: Session, row: NegotiationRow, agreement: AgreementRow, now: datetime
) -> AgreementView:
    if agreement.state != State.FINALIZED.value:
        raise Conflict(
            f"The agreement {row.id!r} has ended ({agreement.termination_reason}); "
            "nothing more is delivered under it; request the product again."
        )
    require_active(session, row.consumer_id, now, "receive deliveries")
    require_active(session, row.provider_id, now, "deliver")
    return cs.view_of(row, agreement, now)


def record_delivery(
    db: Database, keys: KeyStore, agreement_id: str, *, now: datetime | None = None
) -> AgreementView:
    """Count one delivery made under an agreement in force, signed by its provider."""
    now = now or utcnow()
    require_in_force(db, keys, agreement_id, now=now)
    with db.transaction() as session:
        row, agreement = count_delivery(session, agreement_id, now=now)
        facts = {"deliveriesMade": agreement.deliveries_made}
        cs.record_step(
            session, keys, row.provider_id, "agreement.delivery_counted", row, now=now, facts=facts
        )
        return cs.view_of(row, agreement, now)


def count_delivery(
    session: Session, agreement_id: str, *, now: datetime
) -> tuple[NegotiationRow, AgreementRow]:
    """Count one delivery in the caller's transaction (the agreement row stays locked).

    Conflict when the agreement is not in force at ``now`` (ended, or its end is due: record
    that first with :func:`standings`). Writes no ledger entry: the caller records the
    delivery, with the new count among its facts, in the same transaction.
    """
    row, agreement = _locked(session, agreement_id)
    _count(row, agreement, now)
    return row, agreement


def count_deliveries(
    session: Session, agreement_ids: list[str], *, now: datetime
) -> dict[str, int | Conflict]:
    """:func:`count_delivery` for each agreement, all locked by one statement: its new count,
    or the Conflict saying it ended. Publishing counts a release's deliveries this way."""
    counted: dict[str, int | Conflict] = {}
    for row, agreement in _lock_all(session, AgreementRow.id.in_(agreement_ids)):
        try:
            _count(row, agreement, now)
        except Conflict as ended:
            counted[agreement.id] = ended
        else:
            counted[agreement.id] = agreement.deliveries_made
    for missing in sorted(set(agreement_ids) - counted.keys()):
        repository.get_agreement(session, missing)  # raises NotFound, as count_delivery does
    return counted


def _count(row: NegotiationRow, agreement: AgreementRow, now: datetime) -> None:
    if agreement.state != State.FINALIZED.value or cs.due_reason(agreement, now) is not None:
        raise Conflict(f"The agreement {row.id!r} ended meanwhile; nothing was counted.")
    agreement.deliveries_made += 1


@dataclass(frozen=True)
class Standing:
    """An agreement on a product and, when deliveries may not be made under it, why not."""

    agreement: AgreementView
    refusal: str | None


def standings(
    db: Database, keys: KeyStore, product_id: str, *, now: datetime | None = None
) -> list[Standing]:
    """Every agreement on ``product_id`` (by id) and whether it is in force at ``now``.

    Due expiries and exhaustions are recorded first (by the operator, as in
    :func:`require_in_force`), so the answer and the ledger agree. A suspended party's
    agreement is not in force but not ended either.
    """
    now = now or utcnow()
    with db.transaction() as session:
        # Three statements load every row the checks below read, instead of five per
        # agreement. The session holds rows weakly: ``held`` and ``_members`` keep them.
        held = _lock_all(session, AgreementRow.product_id == product_id)
        parties = {OPERATOR_ID, *(p for row, _ in held for p in (row.consumer_id, row.provider_id))}
        _members = repository.participants(session, parties)
        for row, agreement in held:
            due = cs.due_reason(agreement, now)
            if due is not None:
                _end(session, keys, OPERATOR_ID, row, agreement, due, now)
        return [_standing(session, agreement.id, now) for _, agreement in held]


def _standing(session: Session, agreement_id: str, now: datetime) -> Standing:
    agreement = repository.get_agreement(session, agreement_id)
    row = repository.get_negotiation(session, agreement_id)
    view = cs.view_of(row, agreement, now)
    if agreement.state != State.FINALIZED.value:
        return Standing(view, f"the agreement has ended ({agreement.termination_reason})")
    try:
        require_active(session, row.consumer_id, now, "receive deliveries")
        require_active(session, row.provider_id, now, "deliver")
    except Unauthorized as exc:
        return Standing(view, str(exc))
    return Standing(view, None)


def terminate_due(db: Database, keys: KeyStore, *, now: datetime | None = None) -> list[str]:
    """Record the end of every finalized agreement that expired or is used up; their ids."""
    now = now or utcnow()
    ended: list[str] = []
    with db.transaction() as session:
        query = select(AgreementRow).where(AgreementRow.state == State.FINALIZED.value)
        for agreement in session.scalars(query.order_by(AgreementRow.id).with_for_update()):
            due = cs.due_reason(agreement, now)
            if due is not None:
                row = repository.get_negotiation(session, agreement.id, for_update=True)
                _end(session, keys, OPERATOR_ID, row, agreement, due, now)
                ended.append(agreement.id)
    return ended


# -- internals ------------------------------------------------------------------------------


def _read(session: Session, agreement_id: str) -> tuple[NegotiationRow, AgreementRow]:
    """For a read transaction: no row locks, and rows this session already holds are not
    selected again."""
    agreement = repository.get_agreement(session, agreement_id)
    return repository.get_negotiation(session, agreement.id), agreement


def _lock_all(
    session: Session, which: ColumnElement[bool]
) -> list[tuple[NegotiationRow, AgreementRow]]:
    """The agreements matching ``which`` with their negotiations, locked in two statements:
    the agreements first, then the negotiations, each in id order, the order in which
    :func:`_locked` takes one agreement's two rows (so that no two transactions wait on
    each other)."""
    query = select(AgreementRow).where(which).order_by(AgreementRow.id).with_for_update()
    found = list(session.scalars(query))
    ids = [agreement.id for agreement in found]
    rows = session.scalars(
        select(NegotiationRow)
        .where(NegotiationRow.id.in_(ids))
        .order_by(NegotiationRow.id)
        .with_for_update()
    )
    by_id = {row.id: row for row in rows}
    return [(by_id[agreement.id], agreement) for agreement in found]


def _locked(session: Session, agreement_id: str) -> tuple[NegotiationRow, AgreementRow]:
    agreement = repository.get_agreement(session, agreement_id, for_update=True)
    return repository.get_negotiation(session, agreement.id, for_update=True), agreement


def _end(  # noqa: PLR0917 (one private helper; every call site names its arguments' roles)
    session: Session,
    keys: KeyStore,
    actor: str,
    row: NegotiationRow,
    agreement: AgreementRow | None,
    reason: TerminationReason,
    now: datetime,
) -> None:
    if cs.terminate(row, agreement, reason, now):
        facts = {"reason": reason.value}
        cs.record_step(
            session,
            keys,
            actor,
            "agreement.terminated",
            row,
            now=now,
            facts=facts,
            event="AgreementTerminated",
        )
