"""Who sees which ledger entry (ADR 0022): in full if party to it, else only its hashes.

A participant sees an entry in full when it is *party* to it: it is the entry's actor, or a
participant named in its ``subject_ids``, or a party of an agreement, delivery, release,
application or incident named there (the caller resolves those ids to their parties), or when
the entry is public by nature (:data:`PUBLIC_ACTIONS`: what the registry and the catalog
show every member anyway). Every other entry it sees only as :data:`HASH_FIELDS`, enough to
check that the chain links up (:func:`linkage_problem`) without learning who did what with
whom, or when. The operator sees everything; the operator's export stays whole.

Pure: no database; the parties of named objects are given as a mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dataspace.ledger.chain import GENESIS_HASH

# Facts every admitted member can read anyway: the registry (registrations, admissions,
# suspensions), the catalog (products) and the versions a product lists (releases).
PUBLIC_ACTIONS = frozenset({
    "operator.initialized", "participant.registered", "participant.admitted",
    "participant.suspended", "participant.reinstated", "product.published",
    "release.published",
})  # fmt: skip
# What an entry the reader is not party to keeps: its place in the chain, nothing more. Not
# the time: when a delivery or a request happened says as much as who made it.
HASH_FIELDS = ("sequence", "prev_hash", "entry_hash")


def parties_of(
    actor: str, subject_ids: Iterable[str], known: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """The participants an entry is about: its actor and the parties of each subject id
    (``known`` maps a participant id to itself and an object's id to its parties)."""
    found = {actor}
    for subject in subject_ids:
        found |= known.get(subject, frozenset())
    return frozenset(found)


def sees_in_full(viewer: str, action: str, parties: frozenset[str]) -> bool:
    """Whether ``viewer`` may read the entry with these ``parties`` in full."""
    return viewer in parties or action in PUBLIC_ACTIONS


def hashes_only(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What a reader not party to ``entry`` receives of it."""
    return {**{name: entry[name] for name in HASH_FIELDS}, "redacted": True}


def linkage_problem(entries: Sequence[Mapping[str, Any]]) -> str | None:
    """Why consecutive ``entries`` (full or hashes only, oldest first) do not form one
    unbroken piece of the chain, or None. Checks sequence numbers and each ``prev_hash``
    against the entry before; the hashes themselves are checked by ``GET /ledger/verify``
    and by ``dataspace ledger verify --offline`` on the operator's export."""
    before: Mapping[str, Any] | None = None
    for entry in entries:
        sequence = entry["sequence"]
        if before is None:
            if sequence == 1 and entry["prev_hash"] != GENESIS_HASH:
                return "entry 1 does not start the chain (its previous hash is not the genesis)"
        elif sequence != before["sequence"] + 1:
            return f"entry {sequence} follows entry {before['sequence']}: entries are missing"
        elif entry["prev_hash"] != before["entry_hash"]:
            return f"entry {sequence} does not link to entry {before['sequence']}"
        before = entry
    return None
