"""Per-participant Kafka principals and ACLs, on a broker that enforces them (ADR 0024).

A participant's principal ``User:<participant>`` (SASL/SCRAM-SHA-512) may:

- READ (and DESCRIBE) the topics under ``dataspace.to.<participant>.``: the events addressed
  to it, which the hub writes there and no one else reads;
- READ with its subscriber's consumer group ``dataspace-subscriber-<participant>``;
- WRITE its subscriber's dead-letter topic (the only thing a connector produces: every event
  of the data space is written by the hub's relay, after the hub checked who acts);
- READ the shared topics every member may read: the registry's and the ledger's checkpoints.

Nothing else: not another participant's topics, not the shared business topics, not creating
topics. :meth:`KafkaAccess.open` creates the participant's topics, its SCRAM credential and
these ACLs (idempotently); :meth:`KafkaAccess.close` deletes the ACLs and the credential, so an
open connection is refused at its next request and no new one authenticates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from dataspace.adapters.kafka import ADMIN_TIMEOUT_SECONDS, ensure_topics
from dataspace.config import Settings
from dataspace.errors import ServiceError
from dataspace.events.deadletter import dead_letter_topic
from dataspace.events.registry import ADDRESSED_PREFIX, MEMBER_READABLE, default_registry
from dataspace.ids import participant_id

MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
PASSWORD_CONTEXT = b"dataspace kafka principal\x1f"


def subscriber_group(participant: str) -> str:
    """The consumer group of a participant's subscriber agent (agent.subscriber uses it)."""
    return f"dataspace-subscriber-{participant}"


@dataclass(frozen=True)
class ParticipantAccess:
    """What one participant's principal may do on the broker."""

    participant: str

    @property
    def principal(self) -> str:
        return f"User:{self.participant}"

    @property
    def own_prefix(self) -> str:
        return f"{ADDRESSED_PREFIX}{self.participant}."

    @property
    def group(self) -> str:
        return subscriber_group(self.participant)

    @property
    def dead_letters(self) -> str:
        return dead_letter_topic(self.group)

    @property
    def own_topics(self) -> list[str]:
        """The topics the hub creates for it: its addressed topics and its dead letters."""
        return [*default_registry().addressed_topics(self.participant), self.dead_letters]

    @property
    def shared_topics(self) -> list[str]:
        return sorted(default_registry().topic(name) for name in MEMBER_READABLE)

    def bindings(self) -> list[AclBinding]:
        read = (AclOperation.READ, AclOperation.DESCRIBE)
        grants: list[tuple[ResourceType, str, ResourcePatternType, AclOperation]] = [
            (ResourceType.TOPIC, self.own_prefix, ResourcePatternType.PREFIXED, op) for op in read
        ]
        grants.append((ResourceType.GROUP, self.group, ResourcePatternType.LITERAL, read[0]))
        grants += [
            (ResourceType.TOPIC, self.dead_letters, ResourcePatternType.LITERAL, op)
            for op in (AclOperation.WRITE, AclOperation.DESCRIBE)
        ]
        grants += [
            (ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, op)
            for topic in self.shared_topics
            for op in read
        ]
        return [
            AclBinding(kind, name, pattern, self.principal, "*", op, AclPermissionType.ALLOW)
            for kind, name, pattern, op in grants
        ]


def derived_password(secret: bytes, participant: str) -> str:
    """The participant's SCRAM password: derived from the hub's secret, so none is stored."""
    digest = hmac.new(secret, PASSWORD_CONTEXT + participant.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class KafkaAccess:
    """Gives and takes a participant's access, through the hub's own admin principal."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # Its errors come back as exceptions with a sentence; librdkafka's log would repeat them.
        self._admin = AdminClient(settings.kafka_producer_config(log_level="0"))

    def open(self, participant: str, password: str) -> ParticipantAccess:
        """Its topics, its SCRAM credential and its ACLs; safe to repeat."""
        access = ParticipantAccess(participant_id(participant))
        ensure_topics(self._settings, access.own_topics)
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        upsert = UserScramCredentialUpsertion(access.participant, info, password.encode())
        self._wait(
            self._admin.alter_user_scram_credentials([upsert]), "set the credential of", access
        )
        self._wait(self._admin.create_acls(access.bindings()), "grant ACLs to", access)
        return access

    def close(self, participant: str) -> ParticipantAccess:
        """No ACL and no credential left for it; safe to repeat."""
        access = ParticipantAccess(participant_id(participant))
        pattern = _everything_of(access)
        self._wait(self._admin.delete_acls([pattern]), "withdraw the ACLs of", access)
        deletion = UserScramCredentialDeletion(access.participant, ScramMechanism.SCRAM_SHA_512)
        futures = self._admin.alter_user_scram_credentials([deletion])
        self._wait(futures, "delete the credential of", access, absent_ok=True)
        return access

    def _wait(
        self,
        futures: dict[Any, Any] | list[Any],
        doing: str,
        access: ParticipantAccess | None = None,
        *,
        absent_ok: bool = False,
    ) -> None:
        who = access.participant if access else "the participant"
        items: Iterable[Any] = futures.values() if isinstance(futures, dict) else futures
        for future in items:
            try:
                self._result(future, doing, who)
            except ServiceError as exc:
                cause = exc.__cause__
                if absent_ok and _is_absent(cause):
                    continue
                raise

    def _result(self, future: Any, doing: str, who: str) -> Any:
        try:
            return future.result(timeout=ADMIN_TIMEOUT_SECONDS)
        except KafkaException as exc:
            raise ServiceError(
                f"Kafka at {self._settings.bootstrap_servers} refused to {doing} {who}: "
                f"{exc.args[0].str()}; the hub's kafka_options must hold a principal allowed "
                "to administer ACLs and credentials (a super user)."
            ) from exc
        except FutureTimeout as exc:
            raise ServiceError(
                f"Kafka at {self._settings.bootstrap_servers} did not answer within "
                f"{ADMIN_TIMEOUT_SECONDS:.0f} s while trying to {doing} {who}; check the "
                "cluster (`infra/production-like/stack status`)."
            ) from exc


def _everything_of(access: ParticipantAccess) -> AclBindingFilter:
    """A filter matching every ACL of the participant's principal, on any resource."""
    anything: Any = None  # the client's stubs say str; None matches any name or host
    return AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        access.principal,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _is_absent(cause: BaseException | None) -> bool:
    if not isinstance(cause, KafkaException):
        return False
    return bool(cause.args[0].code() == KafkaError.RESOURCE_NOT_FOUND)
