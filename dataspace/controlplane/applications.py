"""Scenario applications (场景申请) for public-data products: apply, approve, reject.

An authorized operator applies for **one** usage scenario of a public-data product: a
purpose, a term and a tier (the highest data grade it asks to handle). An operator holds at
most one application *in force* per scenario of a product: pending or approved, with its term
not ended. Once none is (its applications were rejected, or their terms ended) it may apply
again: a new application with the next ``attempt`` number; the earlier attempts are kept as
they were and are listed with it (:func:`attempts`). The public-data authority that owns the
product decides:

- **approve**: everything that can refuse is checked first (the application is pending, the
  authority owns the product and is active, the tier covers the grade, the applicant is an
  active authorized operator, the term has not ended). Then the applicant's request for the
  product under the application's purpose until the term's end is opened
  (:func:`negotiations.request_licence`, the only way to a licence on public data) and
  concluded (both keys are on this node, ADR 0006), and the application records the
  agreement. If concluding fails, that negotiation is terminated and the application stays
  pending. Approving an approved application returns it and records nothing.
- **reject**: a pending application, with a reason; nothing is concluded.

Each step is a signed ledger entry (``application.submitted|approved|rejected``); the
application's facts (purpose, term, tier, attempt, decision) are hashed into it. Releases go
only to agreements that an approved application in its term licenses
(:func:`licensed_agreements`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.canonical import utc_iso
from dataspace.contracts.negotiation import State
from dataspace.controlplane import agreements, negotiations
from dataspace.controlplane.application_views import (
    ApplicationView,
    attempt_rows,
    attempts,
    get_row,
    licensed_agreements,
    list_applications,
    require_approved,
    show,
    view_of,
)
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import party_signing_key, require_active
from dataspace.errors import Conflict, DataspaceError, InvalidInput, Refused, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.identity.membership import Role
from dataspace.ids import participant_id, product_id, validate_slug
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import GRADES, NegotiationRow, ScenarioApplicationRow
from dataspace.store.types import utcnow

__all__ = [  # the read side is re-exported: callers use one module for applications
    "ApplicationView",
    "Scenario",
    "application_id",
    "apply",
    "approve",
    "attempts",
    "licensed_agreements",
    "list_applications",
    "reject",
    "require_approved",
    "show",
]

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class Scenario:
    """What an operator applies for; validated on creation."""

    scenario: str
    purpose: str
    tier: str
    term_start: datetime
    term_end: datetime
    description: str = ""

    def __post_init__(self) -> None:
        validate_slug(self.scenario, "scenario")
        validate_slug(self.purpose, "purpose")
        if self.tier not in GRADES:
            raise InvalidInput(f"The tier {self.tier!r} is not one of {', '.join(GRADES)}.")
        if self.term_start.tzinfo is None or self.term_end.tzinfo is None:
            raise InvalidInput("The term's start and end need a timezone; add Z for UTC.")
        if self.term_end <= self.term_start:
            raise InvalidInput("The term ends before it starts; give an end after the start.")
        if len(self.description) > MAX_DESCRIPTION:
            raise InvalidInput(f"The description is longer than {MAX_DESCRIPTION} characters.")


def application_id(applicant: str, product: str, scenario: str, attempt: int = 1) -> str:
    """``app-`` + 16 hex digits of the stable coordinates. Attempt 1 hashes what ids hashed
    before there were attempts, so those ids stay valid; later attempts add their number."""
    text = f"{applicant}\n{product}\n{scenario}"
    if attempt > 1:
        text += f"\n{attempt}"
    return f"app-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def apply(
    db: Database,
    keys: KeyStore,
    *,
    applicant: str,
    product: str,
    scenario: Scenario,
    now: datetime | None = None,
) -> ApplicationView:
    """The authorized operator applies: the next attempt at the scenario, or a Conflict naming
    the application still in force."""
    now = now or utcnow()
    with db.transaction() as session:
        row = require_active(session, participant_id(applicant), now, "apply for public data")
        _require_operator(row.id, row.roles)
        target = repository.get_product(session, product_id(product))
        _require_public(session, target.owner_id)
        earlier = attempt_rows(session, row.id, target.id, scenario.scenario)
        _refuse_second_in_force([view_of(each) for each in earlier], now)
        attempt = max((each.attempt for each in earlier), default=0) + 1
        application = ScenarioApplicationRow(
            id=application_id(row.id, target.id, scenario.scenario, attempt),
            applicant_id=row.id,
            product_id=target.id,
            scenario=scenario.scenario,
            attempt=attempt,
            purpose=scenario.purpose,
            tier=scenario.tier,
            description=scenario.description,
            term_start=scenario.term_start,
            term_end=scenario.term_end,
            status="pending",
            created_at=now,
        )
        session.add(application)
        session.flush()
        _record(session, keys, row.id, "application.submitted", application, now)
        return view_of(application)


def approve(
    db: Database,
    keys: KeyStore,
    *,
    authority: str,
    application: str,
    reason: str = "",
    now: datetime | None = None,
) -> ApplicationView:
    """The authority approves: the licensing agreement is concluded, then recorded on the
    application. Every refusal comes before anything is concluded; a failure to conclude
    terminates the negotiation it opened, and the application stays pending."""
    now = now or utcnow()
    with db.transaction() as session:
        row = _decidable(session, authority, application, now)
        if row.status == "approved":
            return view_of(row)
        pending = _require_approvable(session, row, now)
        negotiation = _licence_negotiation(session, keys, pending, now)
    agreement = _conclude(db, keys, authority, negotiation, now)
    try:
        return _record_approval(db, keys, authority, application, agreement, reason, now)
    except Exception:
        _revoke(db, keys, authority, agreement, now)  # so no licence is in force unrecorded
        raise


def reject(
    db: Database,
    keys: KeyStore,
    *,
    authority: str,
    application: str,
    reason: str,
    now: datetime | None = None,
) -> ApplicationView:
    """The authority rejects a pending application, saying why; nothing is concluded."""
    now = now or utcnow()
    if not reason.strip():
        raise InvalidInput("A rejection needs a reason; pass --reason.")
    with db.transaction() as session:
        row = _decidable(session, authority, application, now)
        if row.status != "pending":
            raise Conflict(f"The application {row.id!r} is already {row.status}.")
        found = _licence_negotiations(session, view_of(row))
        _refuse_while_concluding(found, row.id, authority, finalized_too=True)
        row.status, row.decided_by, row.decided_at = "rejected", authority, now
        row.decision_reason = reason
        _record(session, keys, authority, "application.rejected", row, now)
        return view_of(row)


# -- approving ------------------------------------------------------------------------------


def _require_approvable(
    session: Session, row: ScenarioApplicationRow, now: datetime
) -> ApplicationView:
    """The pending application, if nothing stands in the way of its licence; else why not."""
    if row.status != "pending":
        raise Conflict(
            f"The application {row.id!r} is already {row.status}, so it cannot be approved; "
            "the operator may apply again for the scenario as a new attempt."
        )
    _require_tier(session, row)
    applicant = require_active(session, row.applicant_id, now, "hold a public-data licence")
    _require_operator(applicant.id, applicant.roles)
    if now >= row.term_end:
        raise Refused(
            f"The term of {row.id} ended at {utc_iso(row.term_end)}, so nothing is approved; "
            "the operator may apply again for a term that has not ended."
        )
    return view_of(row)


def _licence_negotiation(
    session: Session, keys: KeyStore, pending: ApplicationView, now: datetime
) -> str:
    """The negotiation to conclude: a finalized one an interrupted approval left, or a new one."""
    found = _licence_negotiations(session, pending)
    _refuse_while_concluding(found, pending.application_id, "")
    if found:
        return found[0].id  # FINALIZED: only recording the approval was left undone
    return negotiations.request_licence(session, keys, application=pending, now=now).id


def _conclude(db: Database, keys: KeyStore, authority: str, negotiation: str, now: datetime) -> str:
    """Conclude the licence negotiation, or terminate it so nothing stays in force, and raise."""
    try:
        agreement = negotiations.accept(
            db, keys, actor=authority, negotiation_id=negotiation, now=now
        )
    except Exception:
        _terminate(db, keys, authority, negotiation, now)
        raise
    if agreement.state != State.FINALIZED.value:
        _terminate(db, keys, authority, negotiation, now)
        raise Conflict(
            f"The licence {negotiation!r} did not conclude (it was {agreement.state}), so "
            "nothing is approved; the operator's key must be on this node for the approval."
        )
    return agreement.agreement_id


def _record_approval(  # noqa: PLR0917 (private; one call site)
    db: Database,
    keys: KeyStore,
    authority: str,
    application: str,
    agreement: str,
    reason: str,
    now: datetime,
) -> ApplicationView:
    with db.transaction() as session:
        row = _decidable(session, authority, application, now)
        if row.status == "approved":  # a concurrent approval recorded the same licence
            return view_of(row)
        row.status, row.decided_by, row.decided_at = "approved", authority, now
        row.decision_reason, row.agreement_id = reason or None, agreement
        _record(session, keys, authority, "application.approved", row, now)
        return view_of(row)


def _revoke(db: Database, keys: KeyStore, authority: str, agreement: str, now: datetime) -> None:
    try:
        agreements.revoke(db, keys, actor=authority, agreement_id=agreement, now=now)
    except DataspaceError:
        log.exception("The unrecorded licence %s could not be revoked", agreement)


def _terminate(
    db: Database, keys: KeyStore, authority: str, negotiation: str, now: datetime
) -> None:
    try:
        negotiations.reject(db, keys, actor=authority, negotiation_id=negotiation, now=now)
    except DataspaceError:
        # The first failure is the one to report; this one is left for the operator's log.
        log.exception("The licence negotiation %s could not be terminated", negotiation)


def _licence_negotiations(session: Session, pending: ApplicationView) -> list[NegotiationRow]:
    """What :func:`negotiations.request_licence` opened for the application, not terminated:
    on public data nothing else opens a negotiation with its applicant, purpose and end, and
    one another application (same purpose and end, another scenario) recorded is not this."""
    recorded = select(ScenarioApplicationRow.agreement_id).where(
        ScenarioApplicationRow.agreement_id.is_not(None)
    )
    query = select(NegotiationRow).where(
        NegotiationRow.consumer_id == pending.applicant,
        NegotiationRow.product_id == pending.product_id,
        NegotiationRow.purpose == pending.purpose,
        NegotiationRow.valid_until == pending.term_end,
        NegotiationRow.state != State.TERMINATED.value,
        NegotiationRow.id.not_in(recorded),
    )
    return list(session.scalars(query))


def _refuse_while_concluding(
    found: list[NegotiationRow], application: str, who: str, *, finalized_too: bool = False
) -> None:
    """A Conflict while an approval of the application is concluding its licence (or, with
    ``finalized_too``, has concluded it but was interrupted before recording the approval)."""
    for row in found:
        who = who or row.provider_id
        if row.state == State.FINALIZED.value and finalized_too:
            raise Conflict(
                f"An interrupted approval of {application} concluded its licence {row.id}; "
                f"approve it again to record that, or revoke the licence first with "
                f"`dataspace agreement revoke {row.id} --as {who}`."
            )
        if row.state != State.FINALIZED.value:
            raise Conflict(
                f"An approval of {application} is concluding its licence {row.id} "
                f"({row.state}); wait for it, or end that licence with `dataspace agreement "
                f"reject {row.id} --as {who}` if it was interrupted."
            )


# -- helpers --------------------------------------------------------------------------------


def _refuse_second_in_force(earlier: list[ApplicationView], now: datetime) -> None:
    for view in earlier:
        if view.in_force(now):
            then = (
                "wait for the authority's decision"
                if view.status == "pending"
                else (f"apply again once its term ends at {utc_iso(view.term_end)}")
            )
            raise Conflict(
                f"{view.applicant!r} already has the application {view.application_id} "
                f"(attempt {view.attempt}, {view.status}) in force for the scenario "
                f"{view.scenario!r} of {view.product_id!r}; one scenario takes one "
                f"application in force: {then}."
            )


def _require_operator(participant: str, roles: list[str]) -> None:
    if Role.AUTHORIZED_OPERATOR.value not in roles:
        raise Unauthorized(
            f"{participant!r} is not an authorized operator; only authorized operators apply "
            "for public-data scenarios and hold their licences."
        )


def _decidable(
    session: Session, authority: str, application: str, now: datetime
) -> ScenarioApplicationRow:
    """The application, locked, if ``authority`` may decide it."""
    row = get_row(session, application, for_update=True)
    product = repository.get_product(session, row.product_id)
    if participant_id(authority) != product.owner_id:
        raise Unauthorized(
            f"Only {product.owner_id!r}, the authority holding {product.id!r}, decides "
            f"applications for it, not {authority!r}."
        )
    require_active(session, authority, now, "decide applications")
    return row


def _require_public(session: Session, owner: str) -> None:
    row = repository.get_participant(session, owner)
    if Role.PUBLIC_DATA_AUTHORITY.value not in row.roles:
        raise InvalidInput(
            f"The product's owner {owner!r} is not a public-data authority; scenario "
            "applications are for public-data products."
        )


def _require_tier(session: Session, row: ScenarioApplicationRow) -> None:
    grade = repository.get_product(session, row.product_id).grade
    if GRADES.index(grade) > GRADES.index(row.tier):
        raise Refused(
            f"The product {row.product_id!r} is graded {grade}, above the {row.tier} tier of "
            f"{row.id}; the operator must apply for the {grade} tier."
        )


def _record(  # noqa: PLR0917 (private; each call site reads as one sentence)
    session: Session,
    keys: KeyStore,
    actor: str,
    action: str,
    row: ScenarioApplicationRow,
    now: datetime,
) -> None:
    facts = view_of(row).to_json()
    change = Change(actor, action, (row.id, row.product_id, row.applicant_id), facts)
    record(session, party_signing_key(session, keys, actor), change, now)
