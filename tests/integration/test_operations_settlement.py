"""The monthly settlement on the real stack and both databases: metered from the ledger,
reconciled against receipts, billed by the rules, written as Parquet and CSV, sealed once."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from dataspace.config import Settings
from dataspace.controlplane import ledger
from dataspace.errors import Conflict
from dataspace.ledger.chain import payload_hash
from dataspace.operations.metering import Month
from dataspace.operations.settlement import SettlementResult, settle
from dataspace.operations.settlement_rules import Rules, load_rules
from dataspace.operations.stores import reports_store
from dataspace.store.models import LedgerEntryRow
from tests.fixtures.controlplane import Space
from tests.worlds.settlement_world import AFTER_CUTOFF, OCTOBER, RULES, Trade, october_trade

pytestmark = pytest.mark.integration


@pytest.fixture
def trade(space: Space, stack_settings: Settings, unique: str, tmp_path: Path) -> Trade:
    """October: v1 and v2 to three suppliers; s02 never receipts v2 in time, s03's v1 record
    is altered after its receipt. November: v3, receipted by everyone."""
    trade = october_trade(space, stack_settings, unique)
    for version in (1, 2, 3):
        trade.publish(version, tmp_path)
    for supplier, version in [("supplier-01", 1), ("supplier-01", 2), ("supplier-02", 1),
                              ("supplier-03", 1), ("supplier-03", 2)]:  # fmt: skip
        trade.receive(supplier, version)
    trade.receive("supplier-02", 2, at=AFTER_CUTOFF)  # too late for October
    for supplier in ("supplier-01", "supplier-02", "supplier-03"):
        trade.receive(supplier, 3)
    trade.alter_record("supplier-03", 1)
    return trade


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    path = tmp_path / "rules.toml"
    path.write_text(RULES, encoding="utf-8")
    return load_rules(path)


def run(trade: Trade, rules: Rules) -> SettlementResult:
    store = reports_store(trade.settings)
    return settle(trade.space.db, trade.space.keys, store, rules, month=OCTOBER, now=AFTER_CUTOFF)


def read(trade: Trade, key: str, sha256: str) -> bytes:
    with reports_store(trade.settings).open_input(key) as source:
        data = bytes(source.read())
    assert hashlib.sha256(data).hexdigest() == sha256
    return data


def test_a_month_is_metered_reconciled_and_billed_by_the_rules(trade: Trade, rules: Rules) -> None:
    result = run(trade, rules)

    assert sorted(result.statements) == [
        f"settlements/2026-10/{name}.{suffix}"
        for name in ("agreements", "differences", "parties")
        for suffix in ("csv", "parquet")
    ]
    key = "settlements/2026-10/agreements.parquet"
    agreements = pq.read_table(io.BytesIO(read(trade, key, result.statements[key])))
    by_subscriber = {row["subscriber_id"]: row for row in agreements.to_pylist()}
    # v3 is November's: two deliveries each in October
    counts = {s: (r["deliveries"], r["reconciled"], r["flagged"]) for s, r in by_subscriber.items()}
    assert counts == {
        "supplier-01": (2, 2, 0), "supplier-02": (2, 1, 1), "supplier-03": (2, 1, 1),
    }  # fmt: skip
    assert by_subscriber["supplier-01"]["usage_charge"] == Decimal("200.00")
    assert by_subscriber["supplier-02"]["service_fee"] == Decimal("10.00")
    v1 = trade.delivery("supplier-01", 1)
    v2 = trade.delivery("supplier-01", 2)
    assert by_subscriber["supplier-01"]["rows"] == v1.row_count + v2.row_count
    assert by_subscriber["supplier-01"]["bytes"] == v1.byte_size + v2.byte_size

    key = "settlements/2026-10/parties.csv"
    parties = pacsv.read_csv(io.BytesIO(read(trade, key, result.statements[key]))).to_pylist()
    net = {row["participant_id"]: (row["revenue"], row["net"]) for row in parties}
    # 4 reconciled deliveries at 100 + 10; members: xcmg 1000, three suppliers 100 each
    assert net["operator"] == (1300 + 40 + 40, 1380)
    assert net["xcmg"] == (360, 360 - 1000)
    assert net["supplier-01"] == (0, -(100 + 200 + 20))
    assert net["supplier-02"] == (0, -(100 + 100 + 10))


def test_deliveries_the_receipts_do_not_confirm_are_flagged_and_withheld(
    trade: Trade, rules: Rules
) -> None:
    result = run(trade, rules)

    flagged = {(d["delivery"], d["kind"]) for d in result.differences}
    assert flagged == {
        (trade.delivery("supplier-02", 2).id, "no_receipt"),
        (trade.delivery("supplier-03", 1).id, "receipt_differs"),
    }
    key = "settlements/2026-10/differences.parquet"
    stored = pq.read_table(io.BytesIO(read(trade, key, result.statements[key])))
    assert sorted(stored.column("kind").to_pylist()) == ["no_receipt", "receipt_differs"]
    assert result.totals["flagged"] == "2"
    assert result.totals["reconciled"] == "4"


def test_the_statements_are_sealed_once_and_a_rerun_changes_nothing(
    trade: Trade, rules: Rules
) -> None:
    first = run(trade, rules)
    with trade.space.db.transaction() as session:
        entry = session.scalars(
            select(LedgerEntryRow).where(LedgerEntryRow.action == "settlement.closed")
        ).one()
    assert (entry.sequence, entry.actor, entry.subject_ids) == (
        first.ledger_sequence, "operator", ["settlement-2026-10"]
    )  # fmt: skip
    for key, sha in first.statements.items():
        read(trade, key, sha)  # what is stored is what the ledger holds
    entries = trade.space.counts()[0]

    again = run(trade, rules)

    assert again.already_settled
    assert (again.statements, again.ledger_sequence) == (first.statements, first.ledger_sequence)
    assert trade.space.counts()[0] == entries
    assert ledger.verify(trade.space.db).ok  # the operator's seal verifies with the rest
    assert entry.payload_hash == payload_hash(
        {
            "month": "2026-10", "cutoff": "2026-11-06T00:00:00Z",
            "bucket": trade.settings.reports_bucket,
            "statements": first.statements, "statementsSha256": first.statements_sha256,
            "rulesSha256": rules.sha256, "totals": first.totals,
        }
    )  # fmt: skip


def test_a_settled_month_is_final_and_an_open_month_is_refused(
    trade: Trade, rules: Rules, tmp_path: Path
) -> None:
    run(trade, rules)
    dearer = tmp_path / "dearer.toml"
    dearer.write_text(RULES.replace("general = 100", "general = 120"), encoding="utf-8")
    store = reports_store(trade.settings)

    with pytest.raises(Conflict, match="was settled in ledger entry"):
        settle(trade.space.db, trade.space.keys, store, load_rules(dearer), month=OCTOBER,
               now=AFTER_CUTOFF)  # fmt: skip
    with pytest.raises(Conflict, match="open for receipts until 2026-12-06T00:00:00Z"):
        settle(trade.space.db, trade.space.keys, store, rules, month=Month(2026, 11),
               now=AFTER_CUTOFF)  # fmt: skip
