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
"""

from __future__ import annotations

from pathlib import Path

from dataspace.errors import NotFound, Unauthorized
from dataspace.identity.keys import SigningKey, load_private_key, save_private_key
from dataspace.ids import participant_id

DIRECTORY_MODE = 0o700


class KeyStore:
    """Private keys under one directory, by participant id (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, participant: str) -> Path:
        return self.directory / f"{participant_id(participant)}.pem"

    def has(self, participant: str) -> bool:
        return self.path_of(participant).is_file()

    def create(self, participant: str) -> SigningKey:
        """Generate and store a new key for ``participant``; Conflict if one exists."""
        path = self.path_of(participant)
        self.directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        self.directory.chmod(DIRECTORY_MODE)  # mkdir's mode is narrowed by the umask
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
