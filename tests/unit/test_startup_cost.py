"""What keeps `dataspace` quick to start: the CLI imports no service library until a command
runs, and the schema's head revision is known without loading Alembic."""

from __future__ import annotations

import subprocess
import sys

from alembic.script import ScriptDirectory

from dataspace.store.db import HEAD_REVISION, MIGRATIONS_DIR

# Each costs from a tenth of a second to a second to import (benchmarks/cli_startup.py).
HEAVY = (
    "alembic",
    "sqlalchemy",
    "pyarrow",
    "confluent_kafka",
    "great_expectations",
    "fastapi",
    "pydantic_settings",
    "minio",
    "typer.rich_utils",
)


def test_importing_the_cli_loads_no_service_library() -> None:
    probe = (
        "import sys, dataspace.cli; print(' '.join(m for m in sys.argv[1:] if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *HEAVY], capture_output=True, text=True, check=True
    )

    assert done.stdout.split() == []


def test_the_head_revision_is_alembics_head() -> None:
    assert ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() == HEAD_REVISION
