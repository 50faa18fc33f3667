"""Ed25519 keys of participants and of the operator.

Guarantees:

- a private key written by :func:`save_private_key` appears atomically, whole, with mode
  0600 from its first byte, and never overwrites an existing file;
- :class:`SigningKey` never shows its private bytes in ``repr``/``str`` (so never in logs
  or tracebacks), and refuses to be pickled by accident;
- public keys travel as base64url (no padding) of their 32 raw bytes;
- :func:`verify` raises :class:`Unauthorized` for a wrong signature *and* for a malformed key
  or signature, so a caller has one failure to handle.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from dataspace.errors import Conflict, InvalidInput, Unauthorized

PRIVATE_KEY_MODE = 0o600
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def b64url_encode(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; raises InvalidInput on malformed text."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{text!r} is not valid base64url; send the key as printed.") from exc


class SigningKey:
    """An Ed25519 private key that signs but never reveals itself when printed."""

    __slots__ = ("_key",)

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key from the operating system's random source."""
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_key_b64(self) -> str:
        """The public key as base64url of its 32 raw bytes."""
        return public_key_b64(self._key.public_key())

    def sign(self, data: bytes) -> bytes:
        """A 64-byte Ed25519 signature over ``data`` (deterministic per RFC 8032)."""
        return self._key.sign(data)

    def private_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted: only for writing the key file."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_key_b64}, private=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("A SigningKey is not picklable; pass its file path instead.")


def public_key_b64(key: Ed25519PublicKey) -> str:
    """Base64url of the raw 32-byte public key."""
    return b64url_encode(
        key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def save_private_key(key: SigningKey, path: Path) -> None:
    """Write ``key`` as PKCS#8 PEM to the new file ``path`` with mode 0600, atomically.

    The key is written and synced to a temporary file created 0600 with ``O_CREAT|O_EXCL``
    in the same directory, then hard-linked to ``path``: a reader (or a crash) sees either no
    file or the whole key, the key is never readable by others, not even briefly, and an
    existing file is never overwritten (raises Conflict).
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            os.fchmod(stream.fileno(), PRIVATE_KEY_MODE)  # the umask may have narrowed it
            stream.write(key.private_pem())
            stream.flush()
            os.fsync(stream.fileno())
        os.link(temporary, path)
    except FileExistsError as exc:
        raise Conflict(
            f"The key file {path} already exists; remove it first if you mean to replace it."
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load_private_key(path: Path) -> SigningKey:
    """Read a key written by :func:`save_private_key`; InvalidInput if it is not Ed25519."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"The key file {path} is not an unencrypted PKCS#8 PEM private key; generate a new key."
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"The key file {path} does not hold an Ed25519 key; generate one.")
    return SigningKey(key)


def load_public_key(public_b64: str) -> Ed25519PublicKey:
    """Parse a base64url public key; InvalidInput if it is not 32 raw Ed25519 bytes."""
    raw = b64url_decode(public_b64)
    if len(raw) != PUBLIC_KEY_BYTES:
        raise InvalidInput(
            f"The public key {public_b64!r} has {len(raw)} bytes but an Ed25519 key has "
            f"{PUBLIC_KEY_BYTES}; send the key as printed."
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(public_b64: str, signature: bytes, data: bytes) -> None:
    """Return if ``signature`` is a valid signature of ``data``; raise Unauthorized otherwise."""
    try:
        key = load_public_key(public_b64)
    except InvalidInput as exc:
        raise Unauthorized(
            "The public key given to check this signature is malformed; "
            "use the key registered for the participant."
        ) from exc
    if len(signature) != SIGNATURE_BYTES:
        raise Unauthorized(
            f"The signature has {len(signature)} bytes, not {SIGNATURE_BYTES}; "
            "sign again with the registered key."
        )
    try:
        key.verify(signature, data)
    except InvalidSignature as exc:
        raise Unauthorized(
            "The signature does not match the data and the registered public key; "
            "sign again with the registered key."
        ) from exc
