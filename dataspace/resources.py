"""Where the project's own files are found: Avro schemas, expectation suites, the data-space
configuration and the DAG folder.

They are code kept as files, reviewed like the package. From a checkout (an editable install,
``make``) they are the folders beside the package; from an installed wheel they are the copies
it installs under ``<prefix>/share/dataspace`` (``[tool.setuptools.data-files]``). Settings
take their defaults from here, so a node can point any of them elsewhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

SHARE_DIR_NAME = "dataspace"


def data_root() -> Path:
    """The checkout holding the package when it has ``schemas/events``, else the installed share."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "schemas" / "events").is_dir():
        return checkout
    return Path(sys.prefix) / "share" / SHARE_DIR_NAME


def event_schemas_dir() -> Path:
    return data_root() / "schemas" / "events"


def data_spaces_file() -> Path:
    return data_root() / "config" / "data_spaces.toml"
