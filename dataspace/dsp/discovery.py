"""Finding another connector's protocol endpoint and participant from its base URL.

``GET <base>/.well-known/dspace-version`` names the path of the 2025-1 binding and (our
extension, ``serviceId``) the participant it belongs to, so a user gives only a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from dataspace.dsp import terms
from dataspace.errors import InvalidInput, ServiceError

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Counterparty:
    participant: str
    address: str  # the protocol's base URL, e.g. http://host:port/dsp


def discover(base_url: str) -> Counterparty:
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise InvalidInput(f"{base_url!r} is not an http(s) URL; give the connector's base URL.")
    try:
        response = httpx.get(f"{base}/.well-known/dspace-version", timeout=TIMEOUT_SECONDS,
                             trust_env=False)  # fmt: skip
    except httpx.HTTPError as exc:
        raise ServiceError(f"The connector at {base} did not answer ({exc}).") from exc
    if response.status_code != 200:  # noqa: PLR2004
        raise ServiceError(
            f"{base}/.well-known/dspace-version answered {response.status_code}; is it a "
            "Dataspace Protocol connector?"
        )
    version = _version(response.json(), base)
    service = str(version.get("serviceId", ""))
    try:
        participant = terms.participant_of(service)
    except InvalidInput as exc:
        raise InvalidInput(
            f"The connector at {base} names no participant of this data space ({exc})."
        ) from exc
    return Counterparty(participant, base + str(version.get("path", "")).rstrip("/"))


def _version(document: Any, base: str) -> dict[str, Any]:
    versions = document.get("protocolVersions") if isinstance(document, dict) else None
    for item in versions or ():
        if isinstance(item, dict) and item.get("version") == terms.VERSION:
            return item
    raise InvalidInput(f"The connector at {base} does not speak the protocol {terms.VERSION}.")
