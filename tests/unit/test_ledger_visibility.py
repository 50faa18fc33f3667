"""Who reads which ledger entry in full (ADR 0022), and that hashes alone still link up."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from dataspace.identity.keys import SigningKey
from dataspace.ledger.chain import EntryFields, LedgerEntry, payload_hash, seal
from dataspace.ledger.visibility import (
    HASH_FIELDS,
    PUBLIC_ACTIONS,
    hashes_only,
    linkage_problem,
    parties_of,
    sees_in_full,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
KEY = SigningKey.generate()
# What the hub resolves subject ids to: participants to themselves, objects to their parties.
KNOWN = {
    "supplier-01": frozenset({"supplier-01"}),
    "xcmg": frozenset({"xcmg"}),
    "agr-1": frozenset({"supplier-01", "xcmg"}),
    "dlv-agr-1-v1": frozenset({"supplier-01", "xcmg"}),
    "purchase-orders": frozenset({"xcmg"}),
}


def chain(*steps: tuple[str, str, tuple[str, ...]]) -> list[LedgerEntry]:
    entries: list[LedgerEntry] = []
    for n, (actor, action, subjects) in enumerate(steps):
        fields = EntryFields(T0 + timedelta(minutes=n), actor, action, subjects, payload_hash(n))
        entries.append(seal(entries[-1] if entries else None, fields, KEY))
    return entries


def as_shown(entry: LedgerEntry, reader: str) -> dict[str, Any]:
    full = {**asdict(entry), "subject_ids": list(entry.subject_ids)}
    parties = parties_of(entry.actor, entry.subject_ids, KNOWN)
    return full if sees_in_full(reader, entry.action, parties) else hashes_only(full)


STORY = chain(
    ("operator", "participant.admitted", ("supplier-01",)),
    ("xcmg", "product.published", ("purchase-orders",)),
    ("supplier-01", "negotiation.requested", ("agr-1", "purchase-orders", "supplier-01", "xcmg")),
    ("supplier-01", "delivery.received", ("dlv-agr-1-v1", "agr-1", "purchase-orders")),
    ("operator", "settlement.closed", ("settlement-2026-03",)),
)


def test_the_parties_are_the_actor_and_whoever_the_subject_ids_resolve_to() -> None:
    received = STORY[3]
    assert parties_of(received.actor, received.subject_ids, KNOWN) == {"supplier-01", "xcmg"}
    assert parties_of("operator", ("settlement-2026-03",), KNOWN) == {"operator"}


def test_a_party_reads_its_entries_in_full_and_an_outsider_only_the_public_ones() -> None:
    outsider = [as_shown(entry, "supplier-02") for entry in STORY]
    assert [("action" in shown) for shown in outsider] == [True, True, False, False, False]
    for shown in outsider[2:]:
        assert set(shown) == {*HASH_FIELDS, "redacted"}
    provider = [as_shown(entry, "xcmg") for entry in STORY]
    assert [("action" in shown) for shown in provider] == [True, True, True, True, False]
    assert {"participant.admitted", "product.published"} <= PUBLIC_ACTIONS


def test_hashes_alone_let_any_reader_check_the_linkage() -> None:
    shown = [as_shown(entry, "supplier-02") for entry in STORY]
    assert linkage_problem(shown) is None
    assert linkage_problem(shown[2:]) is None  # a window that does not start at entry 1

    gap = shown[:2] + shown[3:]
    assert linkage_problem(gap) == "entry 4 follows entry 2: entries are missing"
    forged = [*shown[:3], {**shown[3], "prev_hash": "f" * 64}, *shown[4:]]
    assert linkage_problem(forged) == "entry 4 does not link to entry 3"
    not_first = [{**shown[0], "prev_hash": "e" * 64}, *shown[1:]]
    assert linkage_problem(not_first) is not None
