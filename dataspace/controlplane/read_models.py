"""What the services return: small frozen records built from rows, with a JSON form.

Rows stay inside the services' transactions; callers (CLI, API) only ever see these views,
so nothing they do can change a row behind a service's back. ``to_json`` gives plain JSON
values (times as ISO 8601 UTC) for ``--json`` output and API responses. No view holds a
private key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from dataspace.canonical import utc_iso


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class _JsonView:
    def to_json(self) -> dict[str, Any]:
        return {key: _plain(value) for key, value in asdict(self).items()}  # type: ignore[call-overload]


@dataclass(frozen=True)
class ParticipantView(_JsonView):
    participant_id: str
    name: str
    uscc: str
    roles: tuple[str, ...]
    region: str
    industry_chains: tuple[str, ...]
    status: str
    public_key: str
    admitted_at: datetime | None
    suspended_at: datetime | None
    membership_valid_until: datetime | None
    custody: str = "node"  # who holds the key: connector, hosted:<who>, node (development)
    endpoint: str | None = None  # the base URL of its connector


@dataclass(frozen=True)
class OfferView(_JsonView):
    offer_id: str
    policy: dict[str, Any]


@dataclass(frozen=True)
class ProductView(_JsonView):
    product_id: str
    owner: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    schema_name: str
    suite_name: str
    grade: str
    chain_tags: tuple[str, ...]
    cadence: str
    auto_accept_chains: tuple[str, ...]
    offers: tuple[OfferView, ...]
    versions: tuple[int, ...]
    quality_score: float | None = None
    quality_checked_at: datetime | None = None
    quality_report_key: str | None = None


@dataclass(frozen=True)
class AgreementView(_JsonView):
    """A negotiation and, once finalized, the agreement it made (they share one id).

    ``state`` is the effective state: a finalized agreement whose validity has ended or whose
    deliveries are used up reads as TERMINATED (expired/exhausted) even before the termination
    is recorded at its next use; ``recorded_state`` is what the database holds.
    """

    agreement_id: str
    product_id: str
    offer_id: str
    provider: str
    consumer: str
    purpose: str | None
    state: str
    recorded_state: str
    reason: str | None
    policy: dict[str, Any]
    operator_approved: bool
    export_approved: bool
    valid_until: datetime | None
    max_deliveries: int | None
    deliveries_made: int
    document: dict[str, Any] | None
    provider_signature: str | None
    consumer_signature: str | None
    history: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class LedgerEntryView(_JsonView):
    sequence: int
    time: datetime
    actor: str
    action: str
    subject_ids: tuple[str, ...]
    payload_hash: str
    prev_hash: str  # the entry before's hash: a reader checks the chain's linkage with it
    entry_hash: str
    sealer: str = ""  # who signed the entry: the actor, or the hub recording the actor's act
    signed_on: str = ""  # connector, hosted:<who>, hub, or node (development mode)


@dataclass(frozen=True)
class CheckpointView(_JsonView):
    sequence: int
    head_hash: str
    signer: str
    time: datetime


@dataclass(frozen=True)
class DeliveryView(_JsonView):
    """One delivery of a release (or of a subscriber's view of it) under one agreement."""

    delivery_id: str
    agreement_id: str
    product_id: str
    version: int
    mode: str
    provider: str
    subscriber: str
    sha256: str
    rows: int
    bytes: int
    state: str
    landed_at: datetime | None


@dataclass(frozen=True)
class Grant(_JsonView):
    """Permission to download one delivery: a presigned GET URL valid until ``expires_at``.

    The URL opens the object for anyone holding it, so ``repr`` leaves it out.
    """

    delivery_id: str
    url: str = field(repr=False)
    expires_at: datetime
    product_id: str
    version: int
    sha256: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class Authorization(_JsonView):
    """The hub's yes to a provider's connector: it may grant ``subscriber`` this delivery
    now, by presigning ``object_key`` in its own bucket."""

    delivery_id: str
    agreement_id: str
    provider: str
    subscriber: str
    object_key: str
    product_id: str
    version: int
    sha256: str
    rows: int
    bytes: int
