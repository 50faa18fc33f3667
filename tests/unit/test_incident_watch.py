"""The Kafka trigger's apply_function: only a verified ReleaseQuarantined event signed by its
provider starts a run; forged, tampered, foreign and other events start nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dataspace.events.envelope import encode
from dataspace.identity.keys import SigningKey
from dataspace.operations.incident_watch import accept_quarantine

PROVIDER = SigningKey.generate()
STRANGER = SigningKey.generate()
BODY: dict[str, Any] = {
    "event_id": "0b7f3c52-4a0e-5f57-9d44-4f2f2c7a9a10",
    "occurred_at": datetime(2026, 3, 1, 8, tzinfo=UTC),
    "actor": "js-data-bureau",
    "provider_id": "js-data-bureau",
    "product_id": "energy-emissions",
    "version": 4,
    "evaluated_expectations": 11,
    "failed_expectations": 1,
    "failed_checks": ["expect_column_values_to_be_between(electricity_kwh)"],
    "report_sha256": None,
}


@dataclass
class FakeMessage:
    """What confluent_kafka hands the trigger: value, headers, topic (a fake for a unit test)."""

    _value: bytes | None
    _headers: list[tuple[str, bytes]] | None
    _topic: str = "dataspace.releases.quarantined.v1"

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def topic(self) -> str | None:
        return self._topic


def keys_of(actor: str) -> str:
    if actor == "js-data-bureau":
        return PROVIDER.public_key_b64
    raise KeyError(actor)


def message(
    body: dict[str, Any], key: SigningKey = PROVIDER, event: str = "ReleaseQuarantined"
) -> FakeMessage:
    encoded = encode(event, body, key)
    headers = encoded.headers
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    return FakeMessage(encoded.value, items, encoded.topic)


def test_a_signed_quarantine_becomes_the_payload_of_a_run() -> None:
    payload = accept_quarantine(message(BODY), keys_of)
    assert payload == {
        "event_id": BODY["event_id"],
        "provider_id": "js-data-bureau",
        "product_id": "energy-emissions",
        "version": 4,
        "evaluated_expectations": 11,
        "failed_checks": BODY["failed_checks"],
        "occurred_at": "2026-03-01T08:00:00+00:00",
    }


def test_a_forged_signature_starts_nothing() -> None:
    assert accept_quarantine(message(BODY, key=STRANGER), keys_of) is None


def test_a_tampered_body_starts_nothing() -> None:
    real = message(BODY)
    assert real._value is not None
    tampered = FakeMessage(real._value[:-1] + bytes([real._value[-1] ^ 1]), real._headers)
    assert accept_quarantine(tampered, keys_of) is None


def test_an_unknown_signer_or_missing_headers_start_nothing() -> None:
    foreign = {**BODY, "actor": "someone-else", "provider_id": "someone-else"}
    assert accept_quarantine(message(foreign, key=STRANGER), keys_of) is None
    assert accept_quarantine(FakeMessage(b"not avro", None), keys_of) is None


def test_a_quarantine_signed_by_someone_other_than_its_provider_starts_nothing() -> None:
    # Signed validly by the bureau, but about another provider's release.
    other = {**BODY, "provider_id": "xcmg"}
    assert accept_quarantine(message(other), keys_of) is None
