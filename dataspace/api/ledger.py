"""The evidence ledger (存证): every admitted member verifies it; each reads in full only the
entries it is party to (or that are public), the others as their hashes (ADR 0022)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from dataspace.api.auth import CallerDep, DatabaseDep
from dataspace.controlplane import ledger as service

router = APIRouter(prefix="/ledger", tags=["ledger"])


@router.get(
    "/entries",
    summary="The newest ledger entries, oldest first: in full those the caller is party to or "
    "that are public (admissions, products, releases); the others as sequence, prev_hash and "
    "entry_hash only (redacted: true). The operator sees every entry in full.",
)
def latest(
    who: CallerDep, db: DatabaseDep, limit: int = Query(20, ge=1, le=1000)
) -> list[dict[str, Any]]:
    return service.latest_seen_by(db, who.participant_id, who.roles, limit)


@router.get("/verify", summary="Verify the whole hash chain; names the first bad entry.")
def verify(_who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    result = service.verify(db)
    return {
        "ok": result.ok,
        "entries_checked": result.entries_checked,
        "head_sequence": result.head_sequence,
        "head_hash": result.head_hash,
        "bad_sequence": result.sequence,
        "message": result.message(),
    }
