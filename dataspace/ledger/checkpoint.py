"""Operator-signed checkpoints of the evidence ledger's head.

A checkpoint is the operator's signed statement "at <time> the ledger's entry <sequence> had
hash <head_hash>". Published periodically, checkpoints make two attacks detectable that a
hash chain alone cannot reveal: cutting entries off the end, and rewriting the whole ledger
with the actors' keys (the rewritten hashes differ from the vouched ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dataspace.canonical import canonical_json, utc_iso
from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity.keys import SigningKey, b64url_decode, b64url_encode, verify
from dataspace.ids import participant_id

CHECKPOINT_TYPE = "dataspace.ledger.checkpoint.v1"
HEX_DIGITS = frozenset("0123456789abcdef")
HASH_LENGTH = 64


@dataclass(frozen=True)
class Checkpoint:
    sequence: int
    head_hash: str
    time: str
    operator: str
    signature: str  # base64url Ed25519 signature over checkpoint_payload()


def checkpoint_payload(sequence: int, head_hash: str, time: str, operator: str) -> bytes:
    """The canonical bytes the operator signs."""
    return canonical_json(
        {
            "type": CHECKPOINT_TYPE,
            "sequence": sequence,
            "headHash": head_hash,
            "time": time,
            "operator": operator,
        }
    )


def sign_checkpoint(
    sequence: int, head_hash: str, time: datetime, operator: str, key: SigningKey
) -> Checkpoint:
    """A checkpoint of the head (``sequence``, ``head_hash``) signed with the operator's key."""
    participant_id(operator)
    if sequence < 1 or len(head_hash) != HASH_LENGTH or not set(head_hash) <= HEX_DIGITS:
        raise InvalidInput(
            "A checkpoint needs the sequence (>= 1) and 64-hex-digit hash of an existing "
            "ledger entry; take both from the head entry."
        )
    stamp = utc_iso(time)
    signature = key.sign(checkpoint_payload(sequence, head_hash, stamp, operator))
    return Checkpoint(sequence, head_hash, stamp, operator, b64url_encode(signature))


def verify_checkpoint(checkpoint: Checkpoint, operator_public_b64: str) -> None:
    """Return if the operator signed ``checkpoint``; raise Unauthorized otherwise."""
    payload = checkpoint_payload(
        checkpoint.sequence, checkpoint.head_hash, checkpoint.time, checkpoint.operator
    )
    try:
        verify(operator_public_b64, b64url_decode(checkpoint.signature), payload)
    except (InvalidInput, Unauthorized) as exc:
        raise Unauthorized(
            f"The checkpoint of sequence {checkpoint.sequence} is not signed by the operator's "
            "key; do not trust it and fetch the published checkpoint again."
        ) from exc
