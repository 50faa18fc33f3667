"""A settlement's statements as Arrow tables, written as Parquet and CSV with stable bytes.

Keys: ``settlements/<YYYY-MM>/<statement>.parquet`` and ``.csv`` in the reports bucket. The
same settlement always gives the same bytes (rows sorted, no clock, fixed writer options), so
a re-run overwrites each object with itself and the SHA-256s recorded in the ledger hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dataspace.dataplane.layout import StoredObject
from dataspace.dataplane.objects import ObjectStore
from dataspace.dataplane.parquet_io import WRITER_OPTIONS
from dataspace.operations.fees import Settlement

MONEY = pa.decimal128(18, 2)
STATEMENTS = ("agreements", "parties", "differences")


def statement_tables(month: str, currency: str, settlement: Settlement) -> dict[str, pa.Table]:
    agreements = [
        {
            "month": month, "agreement_id": a.agreement_id, "product_id": a.product_id,
            "provider_id": a.provider_id, "subscriber_id": a.subscriber_id, "grade": a.grade,
            "category": a.category, "deliveries": a.deliveries, "rows": a.rows, "bytes": a.bytes,
            "reconciled": a.reconciled, "flagged": a.flagged, "usage_charge": a.usage_charge,
            "service_fee": a.service_fee, "currency": currency,
        }
        for a in settlement.agreements
    ]  # fmt: skip
    parties = [
        {
            "month": month, "participant_id": p.participant_id, "roles": ",".join(p.roles),
            "membership_fee": p.membership_fee, "service_fees": p.service_fees,
            "usage_charges": p.usage_charges, "revenue": p.revenue, "net": p.net,
            "currency": currency,
        }
        for p in settlement.parties
    ]  # fmt: skip
    differences = [
        {
            "month": month, "delivery_id": d.delivery_id, "agreement_id": d.agreement_id,
            "product_id": d.product_id, "provider_id": d.provider_id,
            "subscriber_id": d.subscriber_id, "kind": d.flag or "", "sha256": d.sha256,
            "rows": d.rows, "bytes": d.bytes, "announced_at": d.announced_at, "detail": d.detail,
        }
        for d in settlement.differences
    ]  # fmt: skip
    return {
        "agreements": _table(agreements, AGREEMENTS),
        "parties": _table(parties, PARTIES),
        "differences": _table(differences, DIFFERENCES),
    }


def write_statements(
    store: ObjectStore, month: str, tables: dict[str, pa.Table]
) -> list[StoredObject]:
    """Each statement as Parquet and CSV; the stored objects in key order."""
    written = []
    for name in STATEMENTS:
        table = tables[name]
        for suffix, data in (("parquet", _parquet(table)), ("csv", _csv(table))):
            stored = store.put(statement_key(month, name, suffix), data)
            written.append(StoredObject(stored.key, stored.sha256, table.num_rows, stored.bytes))
    return sorted(written, key=lambda item: item.key)


def statement_key(month: str, name: str, suffix: str) -> str:
    return f"settlements/{month}/{name}.{suffix}"


def _table(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=schema)


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **WRITER_OPTIONS)
    return bytes(sink.getvalue())


def _csv(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    return bytes(sink.getvalue())


_TEXT, _COUNT = pa.string(), pa.int64()
AGREEMENTS = pa.schema(
    [(name, _TEXT) for name in ("month", "agreement_id", "product_id", "provider_id")]
    + [(name, _TEXT) for name in ("subscriber_id", "grade", "category")]
    + [(name, _COUNT) for name in ("deliveries", "rows", "bytes", "reconciled", "flagged")]
    + [("usage_charge", MONEY), ("service_fee", MONEY), ("currency", _TEXT)]
)
PARTIES = pa.schema(
    [("month", _TEXT), ("participant_id", _TEXT), ("roles", _TEXT)]
    + [(name, MONEY) for name in ("membership_fee", "service_fees", "usage_charges")]
    + [("revenue", MONEY), ("net", MONEY), ("currency", _TEXT)]
)
DIFFERENCES = pa.schema(
    [(name, _TEXT) for name in ("month", "delivery_id", "agreement_id", "product_id")]
    + [(name, _TEXT) for name in ("provider_id", "subscriber_id", "kind", "sha256")]
    + [("rows", _COUNT), ("bytes", _COUNT), ("announced_at", pa.timestamp("us", tz="UTC"))]
    + [("detail", _TEXT)]
)
