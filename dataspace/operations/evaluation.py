"""The evaluation report's figures (the plan's yardsticks) from the control plane.

The province evaluates data spaces by the number of participants (接入主体数量), the volume of
circulation (流通交易规模) and the activity of the ecosystem (生态活跃度), and publishes a
yearly "123+" progress report. :func:`gather` reads, as of a day:

- **participants**: admitted members (the operator excluded) by role, region and industry chain;
- **circulation**: agreements concluded and in force, deliveries, rows and bytes, in total and
  per month;
- **activity**: per month, active subscribers (with a delivery that month), new members and
  new products, for the twelve months up to the day;
- **123+**: the configured data spaces per tier against the targets.

Reads only, and only records made before the end of the day, so the same day gives the same
figures. :func:`publish_report` stores the HTML and the figures as JSON in the reports bucket
under ``evaluation/<day>/``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from dataspace.controlplane.participants import OPERATOR_ID
from dataspace.dataplane.layout import StoredObject
from dataspace.dataplane.objects import ObjectStore
from dataspace.operations.data_spaces import DataSpaces
from dataspace.operations.metering import Month
from dataspace.store.db import Database
from dataspace.store.models import AgreementRow, DeliveryRow, ParticipantRow, ProductRow

MONTHS = 12
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MonthFigures:
    month: str
    deliveries: int
    rows: int
    bytes: int
    active_subscribers: int
    new_members: int
    new_products: int
    new_agreements: int


@dataclass(frozen=True)
class Evaluation:
    as_of: str
    members: int
    by_role: dict[str, int]
    by_region: dict[str, int]
    by_chain: dict[str, int]
    products: int
    agreements: int
    agreements_in_force: int
    deliveries: int
    rows: int
    bytes: int
    months: list[MonthFigures]
    spaces_year: int
    spaces: dict[str, int]
    targets: dict[str, int]
    target_year: int
    spaces_by_city: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def gather(db: Database, spaces: DataSpaces, as_of: date) -> Evaluation:
    end = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)
    with db.transaction() as session:
        members = [
            row
            for row in session.scalars(select(ParticipantRow).order_by(ParticipantRow.id))
            if row.id != OPERATOR_ID and row.admitted_at is not None and row.admitted_at < end
        ]
        products = list(session.scalars(select(ProductRow).where(ProductRow.created_at < end)))
        agreements = list(
            # valid_from is the signed start; created_at is the database's insert time
            session.scalars(select(AgreementRow).where(AgreementRow.valid_from < end))
        )
        total = _delivered(session, EPOCH, end)
        delivered = {m: _delivered(session, m.start, min(m.end, end)) for m in _months(as_of)}
    in_force = [
        a for a in agreements
        if (a.terminated_at is None or a.terminated_at >= end)
        and (a.valid_until is None or a.valid_until >= end)
    ]  # fmt: skip
    return Evaluation(
        as_of=as_of.isoformat(),
        members=len(members),
        by_role=_sorted(Counter(role for row in members for role in row.roles)),
        by_region=_sorted(Counter(row.region for row in members)),
        by_chain=_sorted(Counter(chain for row in members for chain in row.industry_chains)),
        products=len(products),
        agreements=len(agreements),
        agreements_in_force=len(in_force),
        deliveries=total[0],
        rows=total[1],
        bytes=total[2],
        months=[_month(m, members, products, agreements, delivered[m]) for m in delivered],
        spaces_year=as_of.year,
        spaces=spaces.counts(as_of.year),
        targets=dict(spaces.targets),
        target_year=spaces.target_year,
        spaces_by_city=_sorted(Counter(s.city for s in spaces.spaces if s.since <= as_of.year)),
    )


def report_prefix(as_of: date) -> str:
    return f"evaluation/{as_of.isoformat()}/"


def publish_report(store: ObjectStore, evaluation: Evaluation, html: bytes) -> StoredObject:
    """Store the figures (``metrics.json``) and then the report (``evaluation-report.html``)."""
    prefix = report_prefix(date.fromisoformat(evaluation.as_of))
    figures = json.dumps(evaluation.to_json(), ensure_ascii=False, indent=2, sort_keys=True)
    store.put(prefix + "metrics.json", figures.encode())
    return store.put(prefix + "evaluation-report.html", html)


def _months(as_of: date) -> list[Month]:
    found, current = [], Month(as_of.year, as_of.month)
    for _ in range(MONTHS):
        found.append(current)
        current = Month.before(current.start)
    return list(reversed(found))


def _month(
    month: Month,
    members: list[ParticipantRow],
    products: list[ProductRow],
    agreements: list[AgreementRow],
    delivered: tuple[int, int, int, int],
) -> MonthFigures:
    def within(moment: datetime | None) -> bool:
        return moment is not None and month.start <= moment < month.end

    return MonthFigures(
        month=str(month),
        deliveries=delivered[0],
        rows=delivered[1],
        bytes=delivered[2],
        active_subscribers=delivered[3],
        new_members=sum(1 for row in members if within(row.admitted_at)),
        new_products=sum(1 for row in products if within(row.created_at)),
        new_agreements=sum(1 for row in agreements if within(row.valid_from)),
    )


def _delivered(session: Session, start: datetime, end: datetime) -> tuple[int, int, int, int]:
    """Deliveries, rows, bytes and distinct subscribers in [start, end), summed by the database."""
    query = select(
        func.count(),
        func.coalesce(func.sum(DeliveryRow.row_count), 0),
        func.coalesce(func.sum(DeliveryRow.byte_size), 0),
        func.count(distinct(DeliveryRow.subscriber_id)),
    ).where(DeliveryRow.created_at >= start, DeliveryRow.created_at < end)
    count, rows, size, subscribers = session.execute(query).one()
    return int(count), int(rows), int(size), int(subscribers)


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))
