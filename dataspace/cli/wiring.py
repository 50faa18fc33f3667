"""What every command needs: this process's node (:mod:`dataspace.node`), and output.

The database named by ``Settings.effective_database_url`` is migrated on first use, so a new
node needs no set-up step besides ``dataspace operator init``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dataspace.errors import InvalidInput

if TYPE_CHECKING:
    from dataspace.node import Node
    from dataspace.policy.model import Policy

console = Console()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts, not a table.")]


@contextmanager
def node() -> Iterator[Node]:
    """The node of this process, opened from the settings and closed after the command."""
    from dataspace.node import open_node  # noqa: PLC0415 (imported when a command runs)

    with open_node() as opened:
        yield opened


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
    from dataspace.policy.model import parse_policy  # noqa: PLC0415

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
