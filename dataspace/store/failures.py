"""Turn database driver errors into the project's errors, each with one clear sentence.

SQLite and PostgreSQL report the same failure differently: PostgreSQL names the violated
constraint and gives an SQLSTATE code, SQLite puts ``table.column`` in its message. Both are
mapped here, so callers and tests see the same error type and sentence on either database.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ForeignKeyConstraint, Table
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.sql.schema import ColumnCollectionConstraint

from dataspace.errors import (
    Conflict,
    DataspaceError,
    InvalidInput,
    NotFound,
    ServiceError,
    StoreBusy,
)
from dataspace.store.models import Base


def store_busy() -> StoreBusy:
    """The one sentence for a write lock that stayed taken longer than we wait."""
    return StoreBusy(
        "The control-plane database is locked by another writer and stayed locked "
        "for longer than we wait; try again in a moment."
    )


NOUNS = {
    "participants": "participant",
    "products": "product",
    "offers": "offer",
    "releases": "release",
    "negotiations": "negotiation",
    "agreements": "agreement",
    "deliveries": "delivery",
    "ledger_entries": "ledger entry",
    "ledger_head": "ledger head",
    "ledger_checkpoints": "ledger checkpoint",
    "outbox": "outbox message",
}
# lock_not_available, serialization_failure, deadlock_detected: retrying may succeed.
PG_BUSY_CODES = {"55P03", "40001", "40P01"}
PG_UNIQUE, PG_FOREIGN_KEY = "23505", "23503"
PG_UNDEFINED_TABLE = "42P01"


def translate(exc: DBAPIError) -> DataspaceError:
    """The project error for a driver error; the caller chains it (``raise ... from exc``)."""
    if isinstance(exc, IntegrityError):
        return _integrity(exc)
    if isinstance(exc, OperationalError) and _is_busy(exc):
        return store_busy()
    if _is_missing_table(exc):
        return ServiceError(
            f"The control-plane database has no table for this ({_first_line(exc)}); "
            "run the migrations first (dataspace.store.db.migrate)."
        )
    return ServiceError(
        f"The control-plane database failed ({_first_line(exc)}); check "
        "DATASPACE_DATABASE_URL and that the database server is running."
    )


def _integrity(exc: IntegrityError) -> DataspaceError:
    code = getattr(exc.orig, "pgcode", None)
    message = _first_line(exc)
    if code == PG_UNIQUE or "UNIQUE constraint failed" in message:
        table, columns = _unique_columns(exc)
        noun = NOUNS.get(table, "row")
        return Conflict(
            f"A {noun} with this {columns} already exists; use a different {columns} "
            f"or work with the existing {noun}."
        )
    if code == PG_FOREIGN_KEY or "FOREIGN KEY constraint failed" in message:
        if (exc.statement or "").lstrip().upper().startswith("DELETE"):
            return Conflict(
                "This row is still referenced by others and cannot be deleted; "
                "remove or terminate what refers to it first."
            )
        return NotFound(
            f"The change refers to {_referred(exc)} that does not exist; create it first "
            "or check the id."
        )
    return InvalidInput(
        f"The database refused a value ({message}); correct the value and try again."
    )


def _unique_columns(exc: IntegrityError) -> tuple[str, str]:
    """(table, "a and b") for the violated unique constraint or primary key."""
    constraint = _constraint_name(exc)
    for table in Base.metadata.tables.values():
        for candidate in table.constraints:
            if isinstance(candidate, ColumnCollectionConstraint) and candidate.name == constraint:
                return table.name, _joined(column.name for column in candidate.columns)
    # SQLite names the columns instead, as "table.column, table.column".
    qualified = _first_line(exc).split("UNIQUE constraint failed:", 1)[-1].split(",")
    table_name = qualified[0].strip().split(".")[0]
    return table_name, _joined(part.strip().split(".")[-1] for part in qualified)


def _referred(exc: IntegrityError) -> str:
    """What a violated foreign key points at ("a product"); SQLite does not say, so a list."""
    constraint = _constraint_name(exc)
    for table in Base.metadata.tables.values():
        for candidate in table.constraints:
            if isinstance(candidate, ForeignKeyConstraint) and candidate.name == constraint:
                referred: Table = candidate.referred_table
                return f"a {NOUNS.get(referred.name, 'row')}"
    return "a participant, product, offer, release or agreement"


def _constraint_name(exc: DBAPIError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


def _is_busy(exc: OperationalError) -> bool:
    if getattr(exc.orig, "pgcode", None) in PG_BUSY_CODES:
        return True
    message = _first_line(exc)
    return "database is locked" in message or "database is busy" in message


def _is_missing_table(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "pgcode", None)
    return code == PG_UNDEFINED_TABLE or "no such table" in _first_line(exc)


def _first_line(exc: DBAPIError) -> str:
    lines = str(exc.orig).strip().splitlines()
    return lines[0] if lines else type(exc.orig).__name__


def _joined(names: Iterable[str]) -> str:
    return " and ".join(names)
