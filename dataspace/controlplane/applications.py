"""Scenario applications (场景申请) for public-data products: apply, approve, reject.

An authorized operator applies for **one** usage scenario of a public-data product: a
purpose, a term and a tier (the highest data grade it asks to handle). One scenario, one
application: the same operator cannot hold two applications for one scenario of a product.
The public-data authority that owns the product decides:

- **approve**: the operator's request for the product's offer under the application's purpose
  and term is made and concluded (both keys are on this node, ADR 0006), and the application
  records the agreement that licenses the operator. Approval is idempotent: approving an
  approved application returns it.
- **reject**: with a reason; nothing is concluded.

Each step is a signed ledger entry (``application.submitted|approved|rejected``); the
application's facts (purpose, term, tier, decision) are hashed into it. Releases go only to
agreements that an approved application in its term licenses (:func:`licensed_agreements`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.canonical import utc_iso
from dataspace.controlplane import negotiations
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import party_signing_key, require_active
from dataspace.controlplane.read_models import _JsonView
from dataspace.errors import Conflict, InvalidInput, NotFound, Refused, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.identity.membership import Role
from dataspace.ids import participant_id, product_id, validate_slug
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import GRADES, ScenarioApplicationRow
from dataspace.store.types import utcnow

MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class ApplicationView(_JsonView):
    application_id: str
    applicant: str
    product_id: str
    scenario: str
    purpose: str
    tier: str
    description: str
    term_start: datetime
    term_end: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    agreement_id: str | None


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


def application_id(applicant: str, product: str, scenario: str) -> str:
    """``app-`` + 16 hex digits of the stable coordinates (one scenario, one application)."""
    digest = hashlib.sha256(f"{applicant}\n{product}\n{scenario}".encode()).hexdigest()
    return f"app-{digest[:16]}"


def apply(
    db: Database,
    keys: KeyStore,
    *,
    applicant: str,
    product: str,
    scenario: Scenario,
    now: datetime | None = None,
) -> ApplicationView:
    """The authorized operator applies; a second application for the scenario is a Conflict."""
    now = now or utcnow()
    with db.transaction() as session:
        row = require_active(session, participant_id(applicant), now, "apply for public data")
        if Role.AUTHORIZED_OPERATOR.value not in row.roles:
            raise Unauthorized(
                f"{row.id!r} is not an authorized operator; only authorized operators apply "
                "for public-data scenarios."
            )
        target = repository.get_product(session, product_id(product))
        _require_public(session, target.owner_id)
        identifier = application_id(row.id, target.id, scenario.scenario)
        if session.get(ScenarioApplicationRow, identifier) is not None:
            raise Conflict(
                f"{row.id!r} already applied for the scenario {scenario.scenario!r} of "
                f"{target.id!r} ({identifier}); one scenario takes one application."
            )
        application = ScenarioApplicationRow(
            id=identifier,
            applicant_id=row.id,
            product_id=target.id,
            scenario=scenario.scenario,
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
    """The authority approves: the licensing agreement is concluded and recorded."""
    now = now or utcnow()
    with db.transaction() as session:
        row = _decidable(session, authority, application, now)
        if row.status == "approved":
            return view_of(row)
        _require_tier(session, row)
    concluded = negotiations.request(
        db, keys, consumer=row.applicant_id, product_id=row.product_id, purpose=row.purpose,
        valid_until=row.term_end, now=now,
    )  # fmt: skip
    agreement = negotiations.accept(
        db, keys, actor=authority, negotiation_id=concluded.agreement_id, now=now
    )
    if agreement.state != "FINALIZED":
        raise Conflict(
            f"The agreement for {application!r} did not conclude (it is {agreement.state}); "
            "the operator's key must be on this node, or it must accept the agreement itself."
        )
    with db.transaction() as session:
        row = _decidable(session, authority, application, now)
        _decide(row, "approved", authority, reason, now)
        row.agreement_id = agreement.agreement_id
        _record(session, keys, authority, "application.approved", row, now)
        return view_of(row)


def reject(
    db: Database,
    keys: KeyStore,
    *,
    authority: str,
    application: str,
    reason: str,
    now: datetime | None = None,
) -> ApplicationView:
    """The authority rejects a pending application, saying why."""
    now = now or utcnow()
    if not reason.strip():
        raise InvalidInput("A rejection needs a reason; pass --reason.")
    with db.transaction() as session:
        row = _decidable(session, authority, application, now)
        if row.status != "pending":
            raise Conflict(f"The application {row.id!r} is already {row.status}.")
        _decide(row, "rejected", authority, reason, now)
        _record(session, keys, authority, "application.rejected", row, now)
        return view_of(row)


def show(db: Database, application: str) -> ApplicationView:
    with db.transaction() as session:
        return view_of(_get(session, application))


def list_applications(db: Database, product: str | None = None) -> list[ApplicationView]:
    query = select(ScenarioApplicationRow).order_by(ScenarioApplicationRow.created_at)
    if product is not None:
        query = query.where(ScenarioApplicationRow.product_id == product_id(product))
    with db.transaction() as session:
        return [view_of(row) for row in session.scalars(query)]


def require_approved(db: Database, application: str, now: datetime) -> ApplicationView:
    """The application if it is approved and in its term; else Refused, saying why."""
    view = show(db, application)
    if view.status != "approved":
        raise Refused(
            f"The application {view.application_id} is {view.status}, so nothing is released; "
            "the public-data authority must approve it first."
        )
    if not view.term_start <= now < view.term_end:
        raise Refused(
            f"The application {view.application_id} is approved for {utc_iso(view.term_start)}"
            f" to {utc_iso(view.term_end)}, not now; nothing is released."
        )
    return view


def licensed_agreements(db: Database, product: str, now: datetime) -> dict[str, str]:
    """Agreement id -> application id, for every approved application of ``product`` in term."""
    query = select(ScenarioApplicationRow).where(
        ScenarioApplicationRow.product_id == product_id(product),
        ScenarioApplicationRow.status == "approved",
    )
    with db.transaction() as session:
        rows = list(session.scalars(query))
    return {
        row.agreement_id: row.id
        for row in rows
        if row.agreement_id is not None and row.term_start <= now < row.term_end
    }


# -- helpers --------------------------------------------------------------------------------


def _get(session: Session, application: str) -> ScenarioApplicationRow:
    row = session.get(ScenarioApplicationRow, validate_slug(application, "application id"))
    if row is None:
        raise NotFound(f"There is no application {application!r}; see `application list`.")
    return row


def _decidable(
    session: Session, authority: str, application: str, now: datetime
) -> ScenarioApplicationRow:
    row = _get(session, application)
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


def _decide(
    row: ScenarioApplicationRow, status: str, authority: str, reason: str, now: datetime
) -> None:
    if row.status == "rejected" or (row.status == "approved" and status == "rejected"):
        raise Conflict(f"The application {row.id!r} is already {row.status}.")
    row.status, row.decided_by, row.decided_at = status, authority, now
    row.decision_reason = reason or None


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


def view_of(row: ScenarioApplicationRow) -> ApplicationView:
    return ApplicationView(
        application_id=row.id,
        applicant=row.applicant_id,
        product_id=row.product_id,
        scenario=row.scenario,
        purpose=row.purpose,
        tier=row.tier,
        description=row.description,
        term_start=row.term_start,
        term_end=row.term_end,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
        agreement_id=row.agreement_id,
    )
