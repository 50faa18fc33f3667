"""RFC 8785 JSON Canonicalization Scheme (JCS) and the SHA-256 helpers used with it.

Guarantees of :func:`canonical_json`:

- the same JSON value always yields the same bytes, on any platform and in any language that
  implements RFC 8785, so the bytes can be signed and hashed;
- object members are sorted by their names' UTF-16 code units; no whitespace is emitted;
- numbers are IEEE 754 doubles printed as ECMAScript's ``Number.prototype.toString`` does;
  NaN, infinities and integers that a double cannot hold exactly are refused;
- strings are emitted as UTF-8 with only the escapes JSON requires;
- anything that is not a JSON value (sets, bytes, datetimes, non-string keys, lone
  surrogates) is refused with :class:`InvalidInput` rather than guessed at.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from dataspace.errors import InvalidInput

_MAX_EXACT_INT = 2**53
# ECMAScript prints a number without an exponent when its decimal point falls in this range
# (ECMA-262 Number::toString, steps for 10**-7 < |x| < 10**21).
_MAX_PLAIN_POINT = 21
_MIN_PLAIN_POINT = -5
_SHORT_ESCAPES = {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
}


def canonical_json(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value."""
    parts: list[str] = []
    _emit(value, parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            "The value contains a lone surrogate that is not valid Unicode; "
            "remove it before canonicalising."
        ) from exc


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


def _emit(value: object, parts: list[str]) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(_string(value))
    elif isinstance(value, int):
        parts.append(_integer(value))
    elif isinstance(value, float):
        parts.append(format_number(value))
    elif isinstance(value, Mapping):
        _emit_object(value, parts)
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _emit(item, parts)
        parts.append("]")
    else:
        raise InvalidInput(
            f"A {type(value).__name__} is not a JSON value; convert it to a string, number, "
            "boolean, null, list or object first."
        )


def _emit_object(value: Mapping[object, object], parts: list[str]) -> None:
    for key in value:
        if not isinstance(key, str):
            raise InvalidInput(f"The object key {key!r} is not a string; JSON keys must be.")
    # Sorting by UTF-16 big-endian bytes is sorting by UTF-16 code units, as RFC 8785 wants.
    keys = sorted(value, key=lambda k: str(k).encode("utf-16-be", "surrogatepass"))
    parts.append("{")
    for index, key in enumerate(keys):
        if index:
            parts.append(",")
        parts.append(_string(str(key)))
        parts.append(":")
        _emit(value[key], parts)
    parts.append("}")


def _string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _integer(value: int) -> str:
    if abs(value) <= _MAX_EXACT_INT:
        return str(value)
    as_float = float(value) if abs(value) < 2**1024 else math.inf
    if math.isinf(as_float) or int(as_float) != value:
        raise InvalidInput(
            f"The integer {value} cannot be represented exactly as an IEEE 754 double; "
            "send it as a string instead."
        )
    return format_number(as_float)


def format_number(value: float) -> str:
    """Format a finite double as ECMAScript's ``Number.prototype.toString`` (RFC 8785 3.2.2.3)."""
    if not math.isfinite(value):
        raise InvalidInput(
            f"The number {value!r} is not allowed in JSON; use a finite number or a string."
        )
    if value == 0:
        return "0"  # also for -0.0, as ECMAScript does
    sign = "-" if value < 0 else ""
    digits, point = _shortest_digits(abs(value))
    return sign + _place_point(digits, point)


def _shortest_digits(value: float) -> tuple[str, int]:
    """Return (d, n) with value == 0.d × 10**n and d the shortest round-tripping digits.

    Python's ``repr`` yields the shortest digit string that round-trips, which is exactly the
    digit string ECMAScript chooses; only the layout differs.
    """
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or "0") - (len(whole + fraction) - len(digits))
    return digits.rstrip("0"), point


def _place_point(digits: str, point: int) -> str:
    count = len(digits)
    if count <= point <= _MAX_PLAIN_POINT:
        return digits + "0" * (point - count)
    if 0 < point <= _MAX_PLAIN_POINT:
        return f"{digits[:point]}.{digits[point:]}"
    if _MIN_PLAIN_POINT <= point <= 0:
        return "0." + "0" * (-point) + digits
    exponent = point - 1
    sign = "+" if exponent >= 0 else "-"
    mantissa = digits if count == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{mantissa}e{sign}{abs(exponent)}"


def utc_iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a ``Z`` suffix; one spelling per instant."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput("The time has no timezone; pass an aware UTC datetime.")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
