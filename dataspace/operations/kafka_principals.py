"""The hub keeps each participant's Kafka access in step with the registry (ADR 0024).

Admitted → its own principal, topics and ACLs (:class:`~dataspace.adapters.kafka_access.
KafkaAccess`); pending or suspended → none. The registry decides, the broker follows: the
hub applies the participant's access right after admitting, suspending or reinstating it,
and `dataspace participant kafka-access` applies it again (for one participant or all) when
that step could not reach Kafka. Suspension is recorded first, so a participant the broker
still serves for a moment is refused by the hub's grant endpoint all the same.

A participant's SCRAM password is derived from a secret only the hub holds
(``keys/kafka-principals.secret``), so no password is stored; the participant's connector
fetches its own, authenticated by its key, with `dataspace connector status`.

Off by default (``kafka_participant_principals``): the embedded broker authenticates no one.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataspace.adapters.kafka_access import MECHANISM, KafkaAccess, derived_password
from dataspace.config import Settings
from dataspace.controlplane import participants
from dataspace.controlplane.participants import OPERATOR_ID
from dataspace.controlplane.standing import ADMITTED
from dataspace.errors import Conflict, ServiceError
from dataspace.node import Node
from dataspace.private_paths import private_directory

SECRET_FILE = "kafka-principals.secret"  # noqa: S105 (a file name)
SECRET_BYTES = 32
UNMANAGED = (
    "this hub gives no participant a Kafka principal (kafka_participant_principals is off: "
    "the broker authenticates no one, as the embedded one does not)"
)


@dataclass(frozen=True)
class AccessApplied:
    participant: str
    state: str  # opened | closed | unmanaged | failed
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"participant": self.participant, "state": self.state, "detail": self.detail}


def apply(node: Node, participant: str) -> AccessApplied:
    """Give or take ``participant``'s Kafka access as its registry status says.

    ServiceError (one sentence) if Kafka could not be told; the registry is unchanged.
    """
    if not node.settings.kafka_participant_principals:
        return AccessApplied(participant, "unmanaged", UNMANAGED)
    view = participants.show_participant(node.db, participant)
    if view.participant_id == OPERATOR_ID:
        return AccessApplied(participant, "unmanaged", "the hub uses its own admin principal")
    access = KafkaAccess(node.settings)
    if view.status == ADMITTED:
        granted = access.open(view.participant_id, password_of(node.settings, participant))
        return AccessApplied(participant, "opened", f"reads {granted.own_prefix}*")
    access.close(view.participant_id)
    return AccessApplied(participant, "closed", f"{view.status}: no ACL, no credential")


def apply_after_change(node: Node, participant: str) -> AccessApplied:
    """:func:`apply`, for a caller that just changed the registry: a failure is reported as
    ``failed`` with the way to retry, since the change itself stands."""
    try:
        return apply(node, participant)
    except ServiceError as exc:
        return AccessApplied(
            participant,
            "failed",
            f"{exc} Run `dataspace participant kafka-access {participant}` once Kafka is back.",
        )


def apply_all(node: Node) -> list[AccessApplied]:
    return [apply(node, view.participant_id) for view in participants.list_participants(node.db)]


def credentials(node: Node, participant: str) -> dict[str, Any]:
    """What ``participant``'s connector needs to reach Kafka as itself (admitted only)."""
    if not node.settings.kafka_participant_principals:
        raise Conflict(f"There is no Kafka principal to fetch: {UNMANAGED}.")
    view = participants.show_participant(node.db, participant)
    if view.status != ADMITTED:
        raise Conflict(
            f"{participant} is {view.status}, so it has no Kafka access; ask the operator."
        )
    protocol = node.settings.kafka_options.get("security.protocol", "SASL_PLAINTEXT")
    return {
        "bootstrap_servers": node.settings.bootstrap_servers,
        "kafka_options": {
            "security.protocol": protocol,
            "sasl.mechanisms": MECHANISM,
            "sasl.username": participant,
            "sasl.password": password_of(node.settings, participant),
        },
    }


def password_of(settings: Settings, participant: str) -> str:
    return derived_password(_secret(settings.keys_dir), participant)


def _secret(keys_dir: Path) -> bytes:
    """The hub's secret, made once: written aside, then linked into place, so two hubs
    starting at once agree on one and no reader sees a half-written file."""
    path = keys_dir / SECRET_FILE
    if not path.exists():
        private_directory(keys_dir)
        aside = keys_dir / f".{SECRET_FILE}.{os.getpid()}"
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(secrets.token_bytes(SECRET_BYTES))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another hub made it first: its secret stands
        finally:
            aside.unlink()
    secret = path.read_bytes()
    if len(secret) != SECRET_BYTES:
        raise ServiceError(
            f"{path} does not hold the hub's {SECRET_BYTES}-byte Kafka secret; restore it "
            "from the backup of the hub's keys (removing it changes every participant's "
            "password)."
        )
    return secret
