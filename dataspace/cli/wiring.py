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
    """A table, or one block of fields per row where the table would not fit the terminal.

    Ids must stay whole to be copied: a cell is never cut with "…". A table whose longest
    words do not fit side by side is printed as records instead, where each value has the
    width of the terminal; only a value wider than that is folded onto the next line."""
    cells = [[_cell(value) for value in row] for row in rows]
    if _fits(columns, cells, console.width):
        table = Table(title=title)
        for index, column in enumerate(columns):
            # rich narrows the widest columns first; one of single words (ids, hashes) is left
            # whole, and a column of phrases wraps between its words instead.
            whole = all(len(row[index].split()) <= 1 for row in cells)
            table.add_column(column, overflow="fold", no_wrap=whole)
        for row in cells:
            table.add_row(*row)
    else:
        table = Table(title=title, show_header=False)
        table.add_column(overflow="fold", style="bold")
        table.add_column(overflow="fold")
        for number, row in enumerate(cells, start=1):
            for column, cell in zip(columns, row, strict=True):
                table.add_row(
                    column, cell, end_section=column == columns[-1] and number < len(cells)
                )
    console.print(table)


def _fits(columns: Sequence[str], cells: Sequence[Sequence[str]], width: int) -> bool:
    """Whether a table's columns, each as wide as its longest word, fit in ``width``."""
    from rich.cells import cell_len  # noqa: PLC0415 (rich imports it already; cheap)

    def longest_word(texts: Sequence[str]) -> int:
        return max((cell_len(word) for text in texts for word in text.split()), default=0)

    needed = sum(
        longest_word([column, *(row[index] for row in cells)])
        for index, column in enumerate(columns)
    )
    return needed + 3 * len(columns) + 1 <= width  # padding and a border per column


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
