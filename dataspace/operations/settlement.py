"""The monthly settlement: meter, reconcile, charge, write statements, seal them in the ledger.

:func:`settle` for a month

1. refuses a month whose receipts may still arrive (before its end + ``receipt_grace_days``);
2. meters every delivery announced in the month from the ledger and reconciles it with the
   subscriber's receipt (:mod:`dataspace.operations.metering`);
3. bills the month's members and the reconciled deliveries by the rules
   (:mod:`dataspace.operations.fees`, :mod:`dataspace.operations.settlement_rules`);
4. writes the statements (agreements, parties, differences) as Parquet and CSV to the reports
   bucket (:mod:`dataspace.operations.statements`);
5. appends one ``settlement.closed`` ledger entry signed by the operator whose facts hold each
   statement's key and SHA-256, the rules' fingerprint and the totals.

The result depends only on the month, the records and the rules, so re-running a month writes
the same bytes and finds its own entry: nothing new is recorded. If the figures changed since
(different rules, an edited record), the month is not settled again: Conflict, one sentence.
Settle a month from one place at a time (the DAG runs one at a time): two runs racing on a
month that was never settled could both append their entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from dataspace.canonical import canonical_json, sha256_hex, utc_iso
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import OPERATOR_ID, operator_signing_key
from dataspace.dataplane.objects import ObjectStore
from dataspace.errors import Conflict
from dataspace.identity.keystore import KeyStore
from dataspace.ledger.chain import payload_hash
from dataspace.operations.fees import Member, Settlement, settle_month
from dataspace.operations.metering import Month, meter
from dataspace.operations.settlement_rules import Rules
from dataspace.operations.statements import statement_tables, write_statements
from dataspace.store.db import Database
from dataspace.store.models import LedgerEntryRow, ParticipantRow
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)

CLOSED_ACTION = "settlement.closed"


@dataclass(frozen=True)
class SettlementResult:
    month: str
    statements: dict[str, str]  # key -> SHA-256
    statements_sha256: str
    ledger_sequence: int
    already_settled: bool
    totals: dict[str, str]
    differences: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def settle(
    db: Database,
    keys: KeyStore,
    store: ObjectStore,
    rules: Rules,
    *,
    month: Month,
    now: datetime | None = None,
) -> SettlementResult:
    """Settle ``month`` (see the module docstring); idempotent."""
    now = now or utcnow()
    cutoff = month.end + timedelta(days=rules.receipt_grace_days)
    if now < cutoff:
        raise Conflict(
            f"The month {month} is open for receipts until {utc_iso(cutoff)}; settle it after "
            "that (or shorten receipt_grace_days in the rules)."
        )
    members, authorities = _members(db, month)
    settlement = settle_month(
        meter(db, month, cutoff), members, rules, operator=OPERATOR_ID, authorities=authorities
    )
    tables = statement_tables(str(month), rules.currency, settlement)
    written = write_statements(store, str(month), tables)
    statements = {item.key: item.sha256 for item in written}
    digest = sha256_hex(canonical_json(statements))
    facts = {
        "month": str(month),
        "cutoff": utc_iso(cutoff),
        "bucket": store.bucket,
        "statements": statements,
        "statementsSha256": digest,
        "rulesSha256": rules.sha256,
        "totals": settlement.totals,
    }
    sequence, already = _seal(db, keys, str(month), facts, now)
    log.info("settled: month=%s sequence=%s already=%s", month, sequence, already)
    return SettlementResult(
        str(month), statements, digest, sequence, already,
        settlement.totals, _differences(settlement),
    )  # fmt: skip


def _seal(
    db: Database, keys: KeyStore, month: str, facts: dict[str, Any], now: datetime
) -> tuple[int, bool]:
    subject = f"settlement-{month}"
    with db.transaction() as session:
        key = operator_signing_key(session, keys)
        earlier = [
            entry
            for entry in session.scalars(
                select(LedgerEntryRow).where(LedgerEntryRow.action == CLOSED_ACTION)
            )
            if entry.subject_ids[:1] == [subject]
        ]
        if earlier:
            entry = earlier[0]
            if entry.payload_hash != payload_hash(facts):
                raise Conflict(
                    f"The month {month} was settled in ledger entry {entry.sequence}, and its "
                    "figures now differ (the rules or the records changed); a settled month is "
                    "final, so book corrections in the next month."
                )
            return entry.sequence, True
        change = Change(OPERATOR_ID, CLOSED_ACTION, (subject,), facts)
        return record(session, key, change, now).sequence, False


def _members(db: Database, month: Month) -> tuple[list[Member], list[str]]:
    """Participants admitted before the month ended and not suspended before it began."""
    with db.transaction() as session:
        rows = session.scalars(select(ParticipantRow).order_by(ParticipantRow.id)).all()
        members = [
            Member(row.id, tuple(sorted(row.roles)))
            for row in rows
            if row.id != OPERATOR_ID
            and row.admitted_at is not None
            and row.admitted_at < month.end
            and (row.suspended_at is None or row.suspended_at >= month.start)
        ]
        authorities = [m.participant_id for m in members if "public_data_authority" in m.roles]
    return members, authorities


def _differences(settlement: Settlement) -> list[dict[str, Any]]:
    return [
        {"delivery": d.delivery_id, "agreement": d.agreement_id, "kind": d.flag, "detail": d.detail}
        for d in settlement.differences
    ]
