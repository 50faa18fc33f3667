"""The node's key store: one Ed25519 private key per participant run from this node.

Keys live in ``<state_dir>/keys/<participant-id>.pem`` (the operator's is ``operator.pem``),
each written once with mode 0600 by :func:`dataspace.identity.keys.save_private_key`; the
directory itself is 0700. Guarantees:

- a file name is only ever built from a validated participant id, never from raw input;
- a key is never overwritten: creating one that exists is a Conflict;
- :meth:`KeyStore.signing_key` returns a key only if it matches the public key the registry
  holds for that participant, so a wrong or swapped key file is refused (Unauthorized);
- nothing here prints or logs a private key (``SigningKey`` hides itself in ``repr``).

In this single-node deployment every participant's key is local. A participant whose key
lives elsewhere simply has no file here; the services then accept its signature as an input.

The key store also keeps the node's *mask secret* (``mask-salt.secret``, 32 random bytes,
0600): the salt of an agreement's hash masks is ``HMAC-SHA256(secret, agreement id)``, so a
masked value cannot be recomputed by anyone who knows only the (public) agreement id, stays
joinable within one agreement, and differs between agreements. Losing the secret changes
the masked values of later deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from dataspace.errors import Conflict, NotFound, Unauthorized
from dataspace.identity.keys import SigningKey, load_private_key, save_private_key
from dataspace.ids import agreement_id, participant_id, product_id
from dataspace.private_paths import private_directory

DIRECTORY_MODE = 0o700
HUB_MARKER = "HUB"  # in the keys directory of a hub (dataspace hub init)
HUB_MARKER_TEXT = "This is a hub's key store: it holds the operator's key and no other.\n"
FILE_MODE = 0o600
MASK_SECRET_FILE = "mask-salt.secret"  # noqa: S105 (a file name, not the secret)
MASK_SECRET_BYTES = 32
MASK_SALT_CONTEXT = b"dataspace-mask-salt/1\n"
PSEUDONYM_CONTEXT = b"dataspace-pseudonym/1\n"


class KeyStore:
    """Private keys under one directory, by participant id (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, participant: str) -> Path:
        return self.directory / f"{participant_id(participant)}.pem"

    def has(self, participant: str) -> bool:
        return self.path_of(participant).is_file()

    @property
    def is_hub(self) -> bool:
        """Whether this key store is a hub's, which holds the operator's key and no other."""
        return (self.directory / HUB_MARKER).is_file()

    def mark_hub(self) -> None:
        """Make this the key store of a hub: from now on it refuses any participant's key.
        Conflict if it holds one already (a development node cannot become a hub)."""
        others = sorted(p.stem for p in self.directory.glob("*.pem") if p.stem != "operator")
        if others:
            raise Conflict(
                f"{self.directory} holds the keys of {', '.join(others)}: a hub holds the "
                "operator's key only. Set the hub up in a new state directory."
            )
        private_directory(self.directory, ours=True)
        (self.directory / HUB_MARKER).write_text(HUB_MARKER_TEXT, encoding="utf-8")

    def create(self, participant: str) -> SigningKey:
        """Generate and store a new key for ``participant``; Conflict if one exists, and for
        anyone but the operator on a hub."""
        if participant != "operator" and self.is_hub:
            raise Conflict(
                f"This node is a hub: it holds the operator's key only, so it makes no key for "
                f"{participant!r}. The participant joins from its own connector "
                "(`dataspace connector init`)."
            )
        path = self.path_of(participant)
        private_directory(self.directory, ours=True)
        key = SigningKey.generate()
        save_private_key(key, path)
        return key

    def discard(self, participant: str) -> None:
        """Remove a key created by a registration that did not commit (no error if absent)."""
        self.path_of(participant).unlink(missing_ok=True)

    def signing_key(self, participant: str, registered_public_key: str) -> SigningKey:
        """The participant's key, checked against its registered public key."""
        path = self.path_of(participant)
        if not path.is_file():
            raise NotFound(
                f"This node holds no private key for {participant!r} ({path} is missing); "
                "act as a participant whose key is here, or supply its signature."
            )
        key = load_private_key(path)
        if key.public_key_b64 != registered_public_key:
            raise Unauthorized(
                f"The key file {path} does not match the public key registered for "
                f"{participant!r}; restore the participant's own key file."
            )
        return key

    def mask_salt(self, agreement: str) -> bytes:
        """The salt of ``agreement``'s hash masks (see the module docstring)."""
        message = MASK_SALT_CONTEXT + agreement_id(agreement).encode("ascii")
        return hmac.new(self._mask_secret(), message, hashlib.sha256).digest()

    def pseudonym_key(self, product: str) -> bytes:
        """The HMAC key pseudonymizing identifiers in ``product``'s public-data releases.

        Derived from the node's secret and the product id: the same for every release of the
        product (an enterprise stays linkable over months), different between products, never
        written anywhere. Callers must not log it.
        """
        message = PSEUDONYM_CONTEXT + product_id(product).encode("ascii")
        return hmac.new(self._mask_secret(), message, hashlib.sha256).digest()

    def _mask_secret(self) -> bytes:
        path = self.directory / MASK_SECRET_FILE
        if not path.is_file():
            private_directory(self.directory, ours=True)
            try:
                # O_EXCL: two processes creating it at once keep the first one's secret.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(secrets.token_bytes(MASK_SECRET_BYTES))
        secret = path.read_bytes()
        if len(secret) != MASK_SECRET_BYTES:
            raise Unauthorized(
                f"The mask secret {path} is damaged ({len(secret)} bytes, not "
                f"{MASK_SECRET_BYTES}); restore it from a backup."
            )
        return secret
