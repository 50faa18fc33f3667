"""What scenario applications read as: one application, its attempts, the licences in force.

The read side of :mod:`dataspace.controlplane.applications`; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.canonical import utc_iso
from dataspace.controlplane.read_models import _JsonView
from dataspace.errors import NotFound, Refused
from dataspace.ids import product_id, validate_slug
from dataspace.store.db import Database
from dataspace.store.models import ScenarioApplicationRow


@dataclass(frozen=True)
class ApplicationView(_JsonView):
    application_id: str
    applicant: str
    product_id: str
    scenario: str
    attempt: int
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

    def in_force(self, now: datetime) -> bool:
        """Pending or approved, and its term not ended: the operator cannot apply again yet."""
        return self.status in ("pending", "approved") and now < self.term_end


def show(db: Database, application: str) -> ApplicationView:
    with db.transaction(read_only=True) as session:
        return view_of(get_row(session, application))


def attempts(db: Database, application: str) -> list[ApplicationView]:
    """Every attempt of the application's operator at its scenario of its product, the first
    first (the application itself included)."""
    with db.transaction(read_only=True) as session:
        row = get_row(session, application)
        rows = attempt_rows(session, row.applicant_id, row.product_id, row.scenario)
        return [view_of(each) for each in rows]


def list_applications(db: Database, product: str | None = None) -> list[ApplicationView]:
    query = select(ScenarioApplicationRow).order_by(
        ScenarioApplicationRow.created_at, ScenarioApplicationRow.attempt
    )
    if product is not None:
        query = query.where(ScenarioApplicationRow.product_id == product_id(product))
    with db.transaction(read_only=True) as session:
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
    with db.transaction(read_only=True) as session:
        rows = list(session.scalars(query))
    return {
        row.agreement_id: row.id
        for row in rows
        if row.agreement_id is not None and row.term_start <= now < row.term_end
    }


def get_row(
    session: Session, application: str, *, for_update: bool = False
) -> ScenarioApplicationRow:
    row = session.get(
        ScenarioApplicationRow,
        validate_slug(application, "application id"),
        with_for_update=for_update or None,
    )
    if row is None:
        raise NotFound(f"There is no application {application!r}; see `application list`.")
    return row


def attempt_rows(
    session: Session, applicant: str, product: str, scenario: str
) -> list[ScenarioApplicationRow]:
    query = (
        select(ScenarioApplicationRow)
        .where(
            ScenarioApplicationRow.applicant_id == applicant,
            ScenarioApplicationRow.product_id == product,
            ScenarioApplicationRow.scenario == scenario,
        )
        .order_by(ScenarioApplicationRow.attempt)
    )
    return list(session.scalars(query))


def view_of(row: ScenarioApplicationRow) -> ApplicationView:
    return ApplicationView(
        application_id=row.id,
        applicant=row.applicant_id,
        product_id=row.product_id,
        scenario=row.scenario,
        attempt=row.attempt,
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
