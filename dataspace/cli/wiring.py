"""What every control-plane command needs: the migrated database, the key store, output.

The database named by ``Settings.effective_database_url`` is migrated on first use (migrating
an up-to-date database changes nothing), so a new node needs no set-up step besides
``dataspace operator init``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dataspace.config import Settings, load_settings
from dataspace.controlplane.catalog import Artifacts
from dataspace.controlplane.keystore import KeyStore
from dataspace.errors import InvalidInput
from dataspace.policy.model import Policy, parse_policy
from dataspace.store.db import Database, migrate

console = Console()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts, not a table.")]


@dataclass(frozen=True)
class Node:
    """The control plane of this node, as the services want it."""

    settings: Settings
    db: Database
    keys: KeyStore

    @property
    def artifacts(self) -> Artifacts:
        return Artifacts(self.settings.schemas_dir, self.settings.expectations_dir)


@contextmanager
def node() -> Iterator[Node]:
    settings = load_settings()
    url = settings.effective_database_url
    migrate(url)
    with Database(url) as db:
        yield Node(settings, db, KeyStore(settings.keys_dir))


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    console.print(table)


def print_fields(title: str, fields: dict[str, Any]) -> None:
    print_table(title, ("field", "value"), list(fields.items()))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def read_policy(path: Path) -> Policy:
    """A policy file parsed against the profile; any problem is one InvalidInput sentence."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"The policy file {path} is not UTF-8 text.") from exc
    except OSError as exc:
        raise InvalidInput(f"The policy file {path} cannot be read ({exc.strerror}).") from exc
    try:
        return parse_policy(text)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc}") from exc


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time with a timezone, as given on the command line."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(
            f"{option} {value!r} is not an ISO 8601 time; write e.g. 2027-01-01T00:00:00Z."
        ) from exc
    if moment.tzinfo is None:
        raise InvalidInput(f"{option} {value!r} has no timezone; add Z for UTC.")
    return moment
