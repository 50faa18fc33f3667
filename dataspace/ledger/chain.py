"""The evidence ledger (存证): an append-only, hash-chained, signed record of every action.

Each entry holds its sequence number, time, actor, action, subject ids, the hash of the
payload it records and the hash of the entry before it; its own hash covers all of these,
and the actor signs that hash. Guarantees:

- :func:`seal` is pure: the same previous entry, fields and key give the same entry
  (Ed25519 signatures are deterministic), so re-sealing after a crash is idempotent;
- :func:`verify_chain` reads entries one at a time and reports the FIRST bad entry and why:
  changed, bad signature (also: not the actor's own act, see
  :mod:`dataspace.ledger.attestation`), removed (a sequence gap, or a tail cut below a
  checkpoint) or reordered (a sequence going back, a missing sequence that turns up later,
  or a previous-entry hash that does not match);
- its memory does not grow with the ledger's length: it keeps the entry before, the
  checkpoints, and the party steps of every agreement agreed or verified but not yet filed
  or terminated, which the operator's filing of an agreement is checked against
  (:class:`~dataspace.ledger.attestation.Filings`); so memory grows with the number of such
  open agreements;
- anyone holding the participants' public keys can verify; no secret is needed.

The first entry has sequence 1 and previous hash :data:`GENESIS_HASH` (64 zeros).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum

from dataspace.canonical import canonical_json, sha256_hex, utc_iso
from dataspace.errors import DataspaceError, InvalidInput, Unauthorized
from dataspace.identity.keys import SigningKey, b64url_decode, b64url_encode, verify
from dataspace.ids import participant_id
from dataspace.ledger.attestation import Filings, attestation_problem
from dataspace.ledger.checkpoint import Checkpoint, verify_checkpoint

GENESIS_HASH = "0" * 64
ENTRY_TYPE = "dataspace.ledger.entry.v1"
# Signatures are over a labelled hash, so a ledger signature can never pass for another
# kind of signed document (agreements, events) and vice versa.
SIGNATURE_LABEL = b"dataspace.ledger.entry.v1:"
HASH_PATTERN = re.compile(r"[0-9a-f]{64}", re.ASCII)
ACTION_PATTERN = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*", re.ASCII)
SUBJECT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}", re.ASCII)

PublicKeyOf = Callable[[str], str]


@dataclass(frozen=True)
class EntryFields:
    """What the caller records; :func:`seal` adds sequence, hashes and signature."""

    time: datetime
    actor: str
    action: str
    subject_ids: tuple[str, ...]
    payload_hash: str
    # Set when the hub records a participant's act: the hub (``sealer``) signs the entry, and
    # the participant's own signed request (``attestation``, its body ``act_body``) proves
    # that the participant asked for it (see dataspace.ledger.attestation).
    sealer: str | None = None
    attestation: str | None = None
    act_body: str | None = None


@dataclass(frozen=True)
class LedgerEntry:
    sequence: int
    time: str
    actor: str
    action: str
    subject_ids: tuple[str, ...]
    payload_hash: str
    prev_hash: str
    entry_hash: str
    signature: str  # base64url Ed25519 signature by the sealer over the labelled entry hash
    sealer: str = ""  # who signed the entry when not the actor itself (the hub recording an act)
    attestation: str = ""  # the actor's signed request (an act token) when the hub sealed it
    act_body: str = ""  # that request's body, checked against the act; not in the entry hash

    @property
    def signer(self) -> str:
        return self.sealer or self.actor


def payload_hash(payload: object) -> str:
    """SHA-256 of the canonical JSON of a payload: what an entry's payload_hash should be."""
    return sha256_hex(canonical_json(payload))


def compute_entry_hash(entry: LedgerEntry) -> str:
    """The hash an entry must carry: canonical JSON of every field but hash and signature."""
    body = asdict(entry)
    del body["entry_hash"], body["signature"], body["act_body"]
    if not body["sealer"] and not body["attestation"]:
        del body["sealer"], body["attestation"]  # an entry sealed by its actor hashes as before
    return sha256_hex(canonical_json({"type": ENTRY_TYPE, **body}))


def seal(prev: LedgerEntry | None, fields: EntryFields, signing_key: SigningKey) -> LedgerEntry:
    """Append-ready entry following ``prev`` (None for the first), signed with ``signing_key``:
    the actor's, or the sealer's when ``fields.sealer`` names another party."""
    _check_fields(fields)
    sealer = "" if fields.sealer in (None, fields.actor) else fields.sealer
    unsigned = LedgerEntry(
        sequence=1 if prev is None else prev.sequence + 1,
        time=utc_iso(fields.time),
        actor=fields.actor,
        action=fields.action,
        subject_ids=tuple(fields.subject_ids),
        payload_hash=fields.payload_hash,
        prev_hash=GENESIS_HASH if prev is None else prev.entry_hash,
        entry_hash="",
        signature="",
        sealer=sealer,
        attestation=fields.attestation or "",
        act_body=fields.act_body or "",
    )
    entry_hash = compute_entry_hash(unsigned)
    signature = signing_key.sign(SIGNATURE_LABEL + entry_hash.encode("ascii"))
    return _with(unsigned, entry_hash=entry_hash, signature=b64url_encode(signature))


def _with(entry: LedgerEntry, **changes: str) -> LedgerEntry:
    return LedgerEntry(**{**asdict(entry), "subject_ids": entry.subject_ids, **changes})


def _check_fields(fields: EntryFields) -> None:
    participant_id(fields.actor)
    if ACTION_PATTERN.fullmatch(fields.action) is None:
        raise InvalidInput(
            f"The ledger action {fields.action!r} is not dotted lowercase words like "
            "'agreement.finalized'; rename it."
        )
    for subject in fields.subject_ids:
        if not isinstance(subject, str) or SUBJECT_PATTERN.fullmatch(subject) is None:
            raise InvalidInput(
                f"The ledger subject id {subject!r} is not a plain identifier; pass ids only."
            )
    if HASH_PATTERN.fullmatch(fields.payload_hash) is None:
        raise InvalidInput(
            f"The payload hash {fields.payload_hash!r} is not 64 lowercase hex digits; "
            "compute it with payload_hash()."
        )


def signature_valid(entry: LedgerEntry, public_key_of: PublicKeyOf) -> str | None:
    """None if the signer's signature over the entry hash is valid, else why not."""
    try:
        signature = b64url_decode(entry.signature)
        public = public_key_of(entry.signer)
        verify(public, signature, SIGNATURE_LABEL + entry.entry_hash.encode("ascii"))
    except DataspaceError as exc:
        whose = "actor" if entry.signer == entry.actor else "sealer"
        return f"its signature is not the {whose} {entry.signer!r}'s ({exc})"
    return None


class Problem(StrEnum):
    CHANGED = "changed"
    BAD_SIGNATURE = "bad signature"
    REMOVED = "removed"
    REORDERED = "reordered"
    BAD_CHECKPOINT = "bad checkpoint"


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a verification; ``position`` counts entries read, from 1."""

    ok: bool
    entries_checked: int
    head_sequence: int
    head_hash: str
    problem: Problem | None = None
    position: int | None = None
    sequence: int | None = None
    detail: str = ""

    def message(self) -> str:
        """One sentence for a person: the ledger is intact, or what the first bad entry is."""
        if self.ok:
            return (
                f"The ledger is intact: {self.entries_checked} entries checked, head "
                f"{self.head_sequence} with hash {self.head_hash}."
            )
        if self.position is None:
            return f"The ledger cannot be checked, {self.problem}: {self.detail}."
        sequence = "" if self.sequence is None else f" (sequence {self.sequence})"
        return (
            f"The ledger is broken at entry #{self.position}{sequence}, "
            f"{self.problem}: {self.detail}."
        )


def verify_chain(
    entries: Iterable[LedgerEntry],
    public_key_of: PublicKeyOf,
    *,
    checkpoints: Iterable[Checkpoint] = (),
    operator_key: str | None = None,
    after: tuple[int, str] | None = None,
) -> VerifyResult:
    """Verify entries in ledger order and name the first bad one (see the module docstring).

    ``public_key_of`` maps an actor id to its base64url public key and may raise NotFound.
    ``checkpoints`` are checked against ``operator_key`` and then against the entries.
    ``after`` = (sequence, hash) of the entry before the first one given, to verify a tail;
    an agreement the operator files in the tail must then have its party steps in it too.
    """
    vouched, failure = _vouched(checkpoints, operator_key)
    if failure is not None:
        return failure
    prev_sequence, prev_hash = after or (0, GENESIS_HASH)
    stream = iter(entries)
    filings = Filings()
    count = 0
    for entry in stream:
        finding = _inspect(entry, prev_sequence, prev_hash, public_key_of, stream)
        finding = finding or _against_checkpoint(entry, vouched) or _filed(entry, filings)
        if finding is not None:
            problem, detail = finding
            return VerifyResult(
                False, count, prev_sequence, prev_hash, problem, count + 1, entry.sequence, detail
            )
        count += 1
        prev_sequence, prev_hash = entry.sequence, entry.entry_hash
    return _tail_check(count, prev_sequence, prev_hash, vouched)


def _inspect(
    entry: LedgerEntry,
    prev_sequence: int,
    prev_hash: str,
    public_key_of: PublicKeyOf,
    stream: Iterator[LedgerEntry],
) -> tuple[Problem, str] | None:
    return _inspect_self(entry, public_key_of) or _inspect_order(
        entry, prev_sequence, prev_hash, stream
    )


def _inspect_self(entry: LedgerEntry, public_key_of: PublicKeyOf) -> tuple[Problem, str] | None:
    """Is the entry, on its own, as its actor signed it?"""
    try:
        intact = compute_entry_hash(entry) == entry.entry_hash
    except DataspaceError:
        intact = False
    if not intact:
        return Problem.CHANGED, "its content no longer matches its entry hash"
    why = signature_valid(entry, public_key_of) or attestation_problem(entry, public_key_of)
    return None if why is None else (Problem.BAD_SIGNATURE, why)


def _inspect_order(
    entry: LedgerEntry, prev_sequence: int, prev_hash: str, stream: Iterator[LedgerEntry]
) -> tuple[Problem, str] | None:
    """Does the entry follow the one before it, by sequence and by hash?"""
    if entry.sequence <= prev_sequence:
        return Problem.REORDERED, f"its sequence does not follow sequence {prev_sequence}"
    if entry.sequence > prev_sequence + 1:
        # Read on (keeping nothing) to tell an entry moved later from one that is gone.
        for later in stream:
            if prev_sequence < later.sequence < entry.sequence:
                return Problem.REORDERED, f"it comes before sequence {later.sequence}"
        last_missing = entry.sequence - 1
        missing = f"{prev_sequence + 1}" + (
            f" to {last_missing}" if last_missing > prev_sequence + 1 else ""
        )
        return Problem.REMOVED, f"the entries with sequence {missing} before it are missing"
    if entry.prev_hash != prev_hash:
        return Problem.REORDERED, (
            f"its previous-entry hash does not match sequence {prev_sequence}'s hash "
            "(an entry before it was replaced or moved)"
        )
    return None


def _filed(entry: LedgerEntry, filings: Filings) -> tuple[Problem, str] | None:
    """May the entry follow the ones before it (the operator files an agreement only after
    both parties' steps)?"""
    why = filings.problem(entry)
    return None if why is None else (Problem.BAD_SIGNATURE, why)


def _vouched(
    checkpoints: Iterable[Checkpoint], operator_key: str | None
) -> tuple[dict[int, str], VerifyResult | None]:
    vouched: dict[int, str] = {}
    for checkpoint in checkpoints:
        if operator_key is None:
            raise InvalidInput("Checkpoints can only be checked with the operator's public key.")
        try:
            verify_checkpoint(checkpoint, operator_key)
        except Unauthorized as exc:
            failure = VerifyResult(
                False, 0, 0, GENESIS_HASH, Problem.BAD_CHECKPOINT, None, checkpoint.sequence,
                str(exc).rstrip("."),
            )  # fmt: skip
            return {}, failure
        vouched[checkpoint.sequence] = checkpoint.head_hash
    return vouched, None


def _against_checkpoint(entry: LedgerEntry, vouched: dict[int, str]) -> tuple[Problem, str] | None:
    if vouched.get(entry.sequence, entry.entry_hash) != entry.entry_hash:
        return Problem.CHANGED, (
            "its hash differs from the one the operator's checkpoint vouches for "
            "(the ledger was rewritten)"
        )
    return None


def _tail_check(
    count: int, head_sequence: int, head_hash: str, vouched: dict[int, str]
) -> VerifyResult:
    beyond = sorted(sequence for sequence in vouched if sequence > head_sequence)
    if beyond:
        detail = (
            f"the ledger ends at sequence {head_sequence} but a checkpoint vouches for "
            f"sequence {beyond[-1]}, so entries were cut off the end"
        )
        return VerifyResult(
            False, count, head_sequence, head_hash, Problem.REMOVED, count + 1,
            head_sequence + 1, detail,
        )  # fmt: skip
    return VerifyResult(True, count, head_sequence, head_hash)
