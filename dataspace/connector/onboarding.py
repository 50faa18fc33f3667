"""Joining a data space from a connector: the key is made here, only its public half leaves.

``init`` makes the connector's state directory, generates the participant's Ed25519 key in
``keys/`` (0600) and sends the hub a registration *signed with that new key* (proof of
possession: the hub checks the act against the key the registration declares, and the credit
code's checksum). If the hub refuses the registration or cannot be reached, nothing of the new
connector is left behind, so the command can simply be run again.

``status`` asks the hub for the participant's record and, once the operator has admitted it,
its membership credential, and checks that credential here against the operator's public key
and against this connector's own key: a connector trusts the hub's registry, not its word.
Suspension and reinstatement show at the next request, since every request is checked by the
hub against the registry as it is then.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dataspace.config import load_settings
from dataspace.connector.hub_client import HubClient, json_body
from dataspace.connector.state import (
    Connector,
    ConnectorConfig,
    config_path,
    save_config,
)
from dataspace.errors import ConfigError, Conflict, DataspaceError, Unauthorized
from dataspace.identity.acts import mint_act
from dataspace.identity.keystore import KeyStore
from dataspace.identity.membership import credential_from_json, verify_membership

REGISTRATION_PATH = "/participants/registrations"


@dataclass(frozen=True)
class Declaration:
    """What a participant declares about itself when its connector registers it."""

    participant: str
    name: str
    uscc: str
    roles: tuple[str, ...]
    region: str
    chains: tuple[str, ...] = ()


def init(
    directory: Path,
    hub_url: str,
    declaration: Declaration,
    *,
    endpoint: str | None = None,
    custody: str = "connector",
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make the connector in ``directory`` and register its participant with the hub."""
    directory = directory.resolve()
    if config_path(directory).exists():
        raise Conflict(
            f"{directory} already holds a connector; use another --state directory, or "
            "`dataspace connector status` to see this one."
        )
    config = ConnectorConfig(
        declaration.participant, hub_url.rstrip("/"), endpoint, custody, dict(settings or {})
    )
    try:
        load_settings(state_dir=directory, **config.settings)  # a bad setting: nothing is made
    except ConfigError as exc:
        raise ConfigError(
            f"{str(exc).split(';')[0]}; give a valid value to `connector init` (--bucket, "
            "--s3-endpoint, --kafka ...)."
        ) from exc
    created = not directory.exists()
    keys = KeyStore(directory / "keys")
    try:
        key = keys.create(declaration.participant)
        body = json_body(
            {
                "id": declaration.participant,
                "name": declaration.name,
                "uscc": declaration.uscc,
                "roles": list(declaration.roles),
                "region": declaration.region,
                "industry_chains": list(declaration.chains),
                "public_key": key.public_key_b64,
                "endpoint": endpoint,
                "custody": custody,
            }
        )
        act = mint_act(declaration.participant, key, "POST", REGISTRATION_PATH, body)
        hub = HubClient(config.hub_url, declaration.participant, key)
        try:
            registered: dict[str, Any] = hub.post_signed(REGISTRATION_PATH, body, act)
        finally:
            hub.close()
        save_config(directory, config)
    except BaseException:
        _remove(directory, keys, declaration.participant, created)
        raise
    return registered


def status(connector: Connector) -> dict[str, Any]:
    """The participant's record at the hub, with its credential checked here when admitted."""
    record: dict[str, Any] = connector.hub.get(f"/participants/{connector.participant}")
    if record.get("public_key") != connector.key.public_key_b64:
        raise Unauthorized(
            f"The hub's registry holds another public key for {connector.participant} than "
            "this connector's key; the registry or this key file was changed, tell the operator."
        )
    result = {**record, "credential": None, "credential_verified": False}
    if record.get("status") == "admitted":
        credential = connector.hub.get(f"/participants/{connector.participant}/credential")
        operator = connector.hub.get("/participants/operator")
        check_credential(credential, operator["public_key"], connector.key.public_key_b64)
        result.update(credential=credential, credential_verified=True)
        result["kafka_principal"] = _store_kafka_principal(connector)
    return result


def _store_kafka_principal(connector: Connector) -> str | None:
    """Fetch this participant's own Kafka principal from the hub and keep it in the
    connector's settings (0600); None where the data space gives participants none."""
    try:
        given: dict[str, Any] = connector.hub.get(
            f"/participants/{connector.participant}/kafka-credentials"
        )
    except Conflict:
        return None  # the broker authenticates no one (the embedded stack)
    config = connector.config
    options = {**config.settings.get("kafka_options", {}), **given["kafka_options"]}
    # The brokers this connector was told at init stay: the hub's view of the cluster's
    # addresses may not be the one this machine reaches.
    settings = {
        "kafka_bootstrap_servers": given["bootstrap_servers"],
        **config.settings,
        "kafka_options": options,
    }
    if settings != config.settings:
        save_config(connector.directory, replace(config, settings=settings))
    return str(given["kafka_options"]["sasl.username"])


def check_credential(credential: dict[str, Any], operator_key: str, own_key: str) -> None:
    """Unauthorized unless the operator signed this credential for this connector's key and
    it is valid now (:func:`~dataspace.identity.membership.verify_membership`)."""
    try:
        parsed = credential_from_json({k: v for k, v in credential.items() if k != "status"})
        verify_membership(parsed, operator_key, datetime.now(UTC))
    except DataspaceError as exc:
        raise Unauthorized(
            f"The membership credential the hub sent does not hold ({exc}); do not rely on "
            "it, and tell the operator."
        ) from exc
    if parsed.public_key != own_key:
        raise Unauthorized(
            "The membership credential is for another key than this connector's; tell the operator."
        )


def _remove(directory: Path, keys: KeyStore, participant: str, created: bool) -> None:
    """Leave nothing of a connector whose registration did not go through."""
    keys.discard(participant)
    config_path(directory).unlink(missing_ok=True)
    if created:
        shutil.rmtree(directory, ignore_errors=True)
