"""A connector's own state: its directory, its configuration, its key, its node.

Everything a connector keeps is under one directory (``dataspace connector --state DIR``):

- ``connector.json``: who it is (participant id), the hub it belongs to, the URL under which
  other connectors reach it (providers answer grants there), and its settings overrides
  (its own S3 endpoint and credentials, its own bucket, the Kafka bootstrap servers);
- ``keys/<participant>.pem``: the participant's private key, made here by ``connector init``
  (mode 0600); only the public key ever leaves;
- ``control-plane.db``: the connector's small database (held manifests, landed deliveries);
- ``landed/``: what a subscriber's connector landed.

:func:`open_connector` is the connector's composition root: the same :class:`~dataspace.node.
Node` as every process, opened on this directory's settings, plus the key and the hub client.
No connector opens the hub's database or reads another party's files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dataspace.config import load_settings
from dataspace.connector.hub_client import HubClient
from dataspace.errors import ConfigError, NotFound
from dataspace.identity.keys import SigningKey, load_private_key
from dataspace.identity.keystore import KeyStore
from dataspace.ids import participant_id
from dataspace.node import Node, open_node

CONFIG_FILE = "connector.json"
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
# Settings a connector may carry in its own file (the rest come from the environment).
SETTING_NAMES = frozenset({
    "s3_endpoint", "s3_access_key", "s3_secret_key", "release_bucket",
    "kafka_bootstrap_servers", "kafka_options", "schemas_dir", "expectations_dir",
    "database_url",
})  # fmt: skip


@dataclass(frozen=True)
class ConnectorConfig:
    participant: str
    hub_url: str
    endpoint: str | None = None  # the base URL other connectors reach this one at
    custody: str = "connector"  # "connector", or "hosted:<who>" for a hosting service
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        participant_id(self.participant)
        unknown = set(self.settings) - SETTING_NAMES
        if unknown:
            raise ConfigError(
                f"The connector settings {', '.join(sorted(unknown))} are not known; "
                f"use only {', '.join(sorted(SETTING_NAMES))}."
            )


def config_path(directory: Path) -> Path:
    return directory / CONFIG_FILE


def save_config(directory: Path, config: ConnectorConfig) -> None:
    """Write ``connector.json`` (0600: it may hold the connector's own S3 secret)."""
    directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    path = config_path(directory)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(config), out, indent=2, sort_keys=True)


def load_config(directory: Path) -> ConnectorConfig:
    path = config_path(directory)
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFound(
            f"{directory} is not a connector's state directory ({path} is missing); run "
            "`dataspace connector init --state DIR ...` first."
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON; restore it or init again.") from exc
    try:
        return ConnectorConfig(**raw)
    except TypeError as exc:
        raise ConfigError(f"{path} does not describe a connector ({exc}).") from exc


@dataclass
class Connector:
    """One participant's connector, opened on its state directory."""

    directory: Path
    config: ConnectorConfig
    node: Node
    key: SigningKey
    hub: HubClient

    @property
    def participant(self) -> str:
        return self.config.participant

    @property
    def landing_dir(self) -> Path:
        return self.directory / "landed"


def participant_key(directory: Path, participant: str) -> SigningKey:
    path = KeyStore(directory / "keys").path_of(participant)
    if not path.is_file():
        raise NotFound(
            f"The connector in {directory} holds no key for {participant!r} ({path} is "
            "missing); restore it from your backup, or init a new connector."
        )
    return load_private_key(path)


@contextmanager
def open_connector(directory: Path) -> Iterator[Connector]:
    """The connector in ``directory``: its node (own database, key store, own bucket), its
    key and its hub client; closed when the block ends."""
    directory = directory.resolve()
    config = load_config(directory)
    key = participant_key(directory, config.participant)
    settings = load_settings(state_dir=directory, **config.settings)
    hub = HubClient(config.hub_url, config.participant, key)
    try:
        with open_node(settings) as node:
            yield Connector(directory, config, node, key, hub)
    finally:
        hub.close()
