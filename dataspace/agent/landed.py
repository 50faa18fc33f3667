"""The subscriber's own record of what it has landed: ``<landing>/.landed.sqlite3``.

A delivery id is added only after its file landed verified *and* its receipt was accepted,
so a restart re-does (idempotently) anything that was cut short. The record survives
restarts and lets the agent ignore replayed announcements without asking anyone.

Thread-safe: one connection behind a lock (writes are tiny and rare). Closing is idempotent.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path

from dataspace.canonical import utc_iso
from dataspace.closing import Closing
from dataspace.errors import ConfigError
from dataspace.private_paths import create_private_file, private_directory

FILE_NAME = ".landed.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS landed (
    delivery_id TEXT PRIMARY KEY,
    product_id  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    row_count   INTEGER NOT NULL,
    landed_at   TEXT NOT NULL
)
"""


class LandedLog(Closing):
    """Delivery ids landed and receipted under one landing directory."""

    def __init__(self, landing: Path) -> None:
        self.path = landing / FILE_NAME
        try:
            private_directory(landing)
            create_private_file(self.path)  # sqlite3 would create it 0644
            self._connection = sqlite3.connect(self.path, check_same_thread=False)
            with self._connection:
                self._connection.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"The landing directory {landing} cannot hold the subscriber's record "
                f"({exc}); choose a writable directory with --landing."
            ) from exc
        self._lock = threading.Lock()

    def has(self, delivery_id: str) -> bool:
        with self._lock:
            found = self._connection.execute(
                "SELECT 1 FROM landed WHERE delivery_id = ?", (delivery_id,)
            ).fetchone()
        return found is not None

    def add(  # noqa: PLR0917 (one row's columns, in their order)
        self,
        delivery_id: str,
        product_id: str,
        version: int,
        sha256: str,
        rows: int,
        landed_at: datetime,
    ) -> None:
        """Remember a landed, receipted delivery; adding it again changes nothing."""
        with self._lock, self._connection:
            self._connection.execute(
                "INSERT OR IGNORE INTO landed VALUES (?, ?, ?, ?, ?, ?)",
                (delivery_id, product_id, version, sha256, rows, utc_iso(landed_at)),
            )

    def ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._connection.execute("SELECT delivery_id FROM landed")}

    def close(self) -> None:
        with self._lock:
            self._connection.close()
