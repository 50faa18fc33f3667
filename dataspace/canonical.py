"""RFC 8785 JSON Canonicalization Scheme (JCS), by the ``rfc8785`` package, and SHA-256 helpers.

Guarantees of :func:`canonical_json`:

- the same JSON value always yields the same bytes, on any platform and in any language that
  implements RFC 8785, so the bytes can be signed and hashed;
- object members are sorted by their names' UTF-16 code units; no whitespace is emitted;
- numbers are IEEE 754 doubles printed as ECMAScript's ``Number.prototype.toString`` does;
  NaN, infinities and integers beyond ±(2**53 − 1) are refused;
- strings are emitted as UTF-8 with only the escapes JSON requires;
- anything that is not a JSON value (sets, bytes, datetimes, non-string keys, lone
  surrogates, mappings other than ``dict``) is refused with :class:`InvalidInput` rather than
  guessed at.

The bytes are ``rfc8785.dumps``'s; what is ours is only the refusal in one sentence. Before
issue 18 this module had its own implementation. The two gave the same bytes on the RFC's
examples and Appendix B numbers, on 3,000,000 random doubles, and on each of the 12,741
documents canonicalised while the ledger, delivery, negotiation, settlement and quality
tests ran and while a demo ledger of 51 entries was verified. They differ only in what they
accept (pinned in ``tests/unit/test_canonical.py``): integers of magnitude 2**53 or more
that a double holds exactly (2**53, 10**21) were printed as doubles and are now refused, as
is any mapping or sequence other than ``dict``, ``list`` and ``tuple``. No signed document
held such a value.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import rfc8785

from dataspace.errors import InvalidInput


def canonical_json(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value."""
    try:
        return rfc8785.dumps(cast(Any, value))
    except rfc8785.IntegerDomainError as exc:
        raise InvalidInput(
            "An integer beyond ±(2**53 - 1) cannot be represented exactly as an IEEE 754 "
            "double; send it as a string instead."
        ) from exc
    except rfc8785.FloatDomainError as exc:
        raise InvalidInput(
            "NaN and infinite numbers are not allowed in JSON; use a finite number or a string."
        ) from exc
    except UnicodeEncodeError as exc:  # a lone surrogate in an object key
        raise InvalidInput(_SURROGATE) from exc
    except rfc8785.CanonicalizationError as exc:
        if isinstance(exc.__cause__, UnicodeEncodeError):
            raise InvalidInput(_SURROGATE) from exc
        raise InvalidInput(
            f"The value is not JSON ({exc}); convert it to strings, numbers, booleans, null, "
            "lists and dicts with string keys first."
        ) from exc
    except RecursionError as exc:
        raise InvalidInput("The value is nested too deeply to canonicalise; flatten it.") from exc


_SURROGATE = (
    "The value contains a lone surrogate that is not valid Unicode; remove it before "
    "canonicalising."
)


def format_number(value: float) -> str:
    """A finite double as ECMAScript's ``Number.prototype.toString`` (RFC 8785 3.2.2.3)."""
    return canonical_json(float(value)).decode("ascii")


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hexadecimal SHA-256 digest of ``data`` (64 characters)."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path, chunk_bytes: int = 1024 * 1024) -> str:
    """The SHA-256 of a local file, read in chunks (memory does not grow with its size)."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def utc_iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a ``Z`` suffix; one spelling per instant."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput("The time has no timezone; pass an aware UTC datetime.")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
