"""What every `dataspace connector` command shares: the state directory option and opening
the connector on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from dataspace.connector.state import Connector

StateOption = Annotated[
    Path,
    typer.Option(
        "--state",
        envvar="DATASPACE_CONNECTOR_STATE",
        help="The connector's state directory (its key, settings and landed files).",
    ),
]
DEFAULT_STATE = Path(".dataspace-connector")


@contextmanager
def opened(state: Path) -> Iterator[Connector]:
    from dataspace.connector.state import open_connector  # noqa: PLC0415

    with open_connector(state) as connector:
        yield connector
