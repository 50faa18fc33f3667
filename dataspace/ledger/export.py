"""The evidence ledger as one file that anyone can verify offline, without the hub.

The file is JSON lines in UTF-8. The first line is the header::

    {"type": "dataspace.ledger.export.v1", "publicKeys": {participant id: base64url key},
     "checkpoints": [{"sequence", "headHash", "time", "operator", "signature"}, ...],
     "exportedAt": "...Z"}

then one line per entry, in sequence order, holding every field of
:class:`~dataspace.ledger.chain.LedgerEntry` under its own name (the names the entry hash is
computed over, so another implementation can re-hash a line as it stands).

Guarantees:

- writing and reading stream the entries: memory does not grow with their number (the keys
  and checkpoints in the header are held, as the online verification holds them);
- a file appears complete or not at all (it is written next to its name and linked into place),
  and an existing file is never overwritten;
- :func:`verify_export` needs no database and no service, only the file and, if the auditor
  got the participants' keys elsewhere, a keys file whose keys take precedence over the
  header's. Its result is :func:`~dataspace.ledger.chain.verify_chain`'s; a line that is not
  an entry at all is reported as a changed entry at its place.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeGuard

from dataspace.canonical import utc_iso
from dataspace.errors import DataspaceError, InvalidInput, NotFound
from dataspace.ledger.attestation import HUB_SEALER
from dataspace.ledger.chain import LedgerEntry, Problem, VerifyResult, verify_chain
from dataspace.ledger.checkpoint import Checkpoint

if TYPE_CHECKING:
    from dataspace.store.db import Database

EXPORT_TYPE = "dataspace.ledger.export.v1"
ENTRY_FIELDS = tuple(field.name for field in fields(LedgerEntry))
_STRING_FIELDS = frozenset(ENTRY_FIELDS) - {"sequence", "subject_ids"}
_CHECKPOINT_FIELDS = ("sequence", "headHash", "time", "operator", "signature")


@dataclass(frozen=True)
class ExportHeader:
    """What an export holds besides its entries: the keys and checkpoints to check them by."""

    public_keys: Mapping[str, str]
    checkpoints: tuple[Checkpoint, ...]
    exported_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "type": EXPORT_TYPE,
            "publicKeys": dict(self.public_keys),
            "checkpoints": [_checkpoint_json(checkpoint) for checkpoint in self.checkpoints],
            "exportedAt": self.exported_at,
        }


@dataclass(frozen=True)
class Exported:
    """What was written: how many entries, up to which head, with how many keys and
    checkpoints."""

    path: Path
    entries: int
    head_sequence: int
    checkpoints: int
    public_keys: int


# -- writing ----------------------------------------------------------------------------------


def write_export(path: Path, header: ExportHeader, entries: Iterable[LedgerEntry]) -> Exported:
    """Write ``header`` and ``entries`` to ``path``, which must not exist yet."""
    refuse_existing(path)
    try:
        descriptor, partial = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".partial", dir=path.parent
        )
    except OSError as exc:
        raise InvalidInput(f"The export cannot be written to {path} ({exc.strerror}).") from exc
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as out:
            count, head = _write_lines(out, header, entries)
            out.flush()
            os.fsync(out.fileno())
        _link_into_place(Path(partial), path)
    finally:
        Path(partial).unlink(missing_ok=True)
    return Exported(path, count, head, len(header.checkpoints), len(header.public_keys))


def entry_json(entry: LedgerEntry) -> dict[str, Any]:
    """An entry as one line of an export holds it."""
    return {**asdict(entry), "subject_ids": list(entry.subject_ids)}


def export_ledger(db: Database, path: Path, *, now: datetime | None = None) -> Exported:
    """Export the ledger of ``db`` as it is now: every entry up to the current head, the
    participants' public keys and the checkpoints of that part of the ledger."""
    # Imported here: reading and verifying an export must load no database code.
    from sqlalchemy import select  # noqa: PLC0415

    from dataspace.controlplane.evidence import entry_of  # noqa: PLC0415
    from dataspace.store import ledger_store  # noqa: PLC0415
    from dataspace.store.models import LedgerCheckpointRow, ParticipantRow  # noqa: PLC0415

    exported_at = utc_iso(now or datetime.now(UTC))
    with db.transaction(read_only=True) as session:
        # The head first: entries appended while exporting are left out, and every key and
        # checkpoint read afterwards covers the entries up to it.
        last = ledger_store.last_entry(session)
        head = 0 if last is None else last.sequence
        keys = dict(session.execute(select(ParticipantRow.id, ParticipantRow.public_key)).all())
        vouching = (
            select(LedgerCheckpointRow)
            .where(LedgerCheckpointRow.sequence <= head)
            .order_by(LedgerCheckpointRow.sequence)
        )
        checkpoints = tuple(
            Checkpoint(row.sequence, row.head_hash, utc_iso(row.created_at), row.signer,
                       row.signature)
            for row in session.scalars(vouching)
        )  # fmt: skip
        rows = itertools.takewhile(
            lambda row: row.sequence <= head, ledger_store.iter_entries(session)
        )
        header = ExportHeader(keys, checkpoints, exported_at)
        return write_export(path, header, (entry_of(row) for row in rows))


def refuse_existing(path: Path) -> None:
    """InvalidInput if ``path`` exists: an export never overwrites a file."""
    if path.exists():
        raise InvalidInput(
            f"The file {path} already exists; choose another name or remove it first."
        )


def _write_lines(
    out: IO[str], header: ExportHeader, entries: Iterable[LedgerEntry]
) -> tuple[int, int]:
    out.write(_line(header.to_json()))
    count, head = 0, 0
    for entry in entries:
        out.write(_line(entry_json(entry)))
        count, head = count + 1, entry.sequence
    return count, head


def _line(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def _link_into_place(partial: Path, path: Path) -> None:
    """Give the complete file its name, unless another file took that name meanwhile."""
    try:
        os.link(partial, path)
    except FileExistsError as exc:
        raise InvalidInput(
            f"The file {path} already exists; choose another name or remove it first."
        ) from exc
    except OSError as exc:
        raise InvalidInput(f"The export cannot be written to {path} ({exc.strerror}).") from exc


# -- reading and verifying --------------------------------------------------------------------


def verify_export(path: Path, keys_path: Path | None = None) -> VerifyResult:
    """Verify an export with the keys it holds, or those of ``keys_path`` where it has one."""
    given = read_keys(keys_path) if keys_path is not None else {}
    try:
        with path.open("rb") as lines:
            numbered = enumerate(lines, start=1)
            header = _header(path, next(numbered, (1, b""))[1])
            keys = {**header.public_keys, **given}
            operator_key = keys.get(HUB_SEALER)
            if header.checkpoints and operator_key is None:
                raise NotFound(
                    f"{path} has checkpoints but no public key of the operator to check them; "
                    "give the operator's key in a keys file."
                )
            entries = _EntryLines(numbered)
            result = verify_chain(
                entries,
                lambda actor: _key_of(keys, actor),
                checkpoints=header.checkpoints,
                operator_key=operator_key,
            )
            return entries.overrule(result)
    except OSError as exc:
        raise InvalidInput(f"The ledger export {path} cannot be read ({exc.strerror}).") from exc


def read_keys(path: Path) -> dict[str, str]:
    """A keys file: one JSON object mapping participant ids to base64url public keys."""
    try:
        keys = json.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"The keys file {path} cannot be read ({exc.strerror}).") from exc
    except ValueError as exc:
        raise InvalidInput(f"The keys file {path} is not JSON ({exc}).") from exc
    if not _is_string_map(keys):
        raise InvalidInput(
            f"The keys file {path} is not a JSON object mapping participant ids to base64url "
            'public keys, like {"operator": "<43 base64url characters>"}.'
        )
    return dict(keys)


def entry_from_json(value: object) -> LedgerEntry:
    """The entry one line of an export holds; InvalidInput naming what is wrong with it."""
    if not isinstance(value, dict):
        raise InvalidInput("it is not a JSON object")
    missing = [name for name in ENTRY_FIELDS if name not in value]
    if missing:
        raise InvalidInput(f"it lacks {', '.join(missing)}")
    unknown = sorted(set(value) - set(ENTRY_FIELDS))
    if unknown:
        raise InvalidInput(f"it has fields no entry has: {', '.join(unknown)}")
    sequence, subjects = value["sequence"], value["subject_ids"]
    if not isinstance(sequence, int) or isinstance(sequence, bool):
        raise InvalidInput("its sequence is not a whole number")
    if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
        raise InvalidInput("its subject_ids are not a list of strings")
    wrong = sorted(name for name in _STRING_FIELDS if not isinstance(value[name], str))
    if wrong:
        raise InvalidInput(f"its {', '.join(wrong)} are not strings")
    return LedgerEntry(**{**value, "subject_ids": tuple(subjects)})


class _EntryLines:
    """The entries of an export's numbered lines, one at a time. At the first line that is
    not an entry it stops and remembers where, so the result can name that line."""

    def __init__(self, lines: Iterator[tuple[int, bytes]]) -> None:
        self._lines = lines
        self._read = 0
        # (position among entries, line number, sequence if readable, why)
        self._unreadable: tuple[int, int, int | None, str] | None = None

    def __iter__(self) -> Iterator[LedgerEntry]:
        for number, raw in self._lines:
            if not raw.strip():
                continue
            value: object = None
            try:
                value = json.loads(raw.decode("utf-8"))
                entry = entry_from_json(value)
            except (ValueError, DataspaceError) as exc:
                self._unreadable = (self._read + 1, number, _sequence_in(value), str(exc))
                return
            self._read += 1
            yield entry

    def overrule(self, result: VerifyResult) -> VerifyResult:
        """``result``, unless an unreadable line comes before the entry it names."""
        if self._unreadable is None:
            return result
        position, number, sequence, why = self._unreadable
        if not result.ok and (result.position is None or result.position < position):
            return result
        detail = f"line {number} of the export is not a ledger entry ({why})"
        return VerifyResult(
            False, result.entries_checked, result.head_sequence, result.head_hash,
            Problem.CHANGED, position, sequence, detail,
        )  # fmt: skip


def _header(path: Path, first: bytes) -> ExportHeader:
    try:
        value = json.loads(first.decode("utf-8"))
    except ValueError:
        value = None
    if not isinstance(value, dict) or value.get("type") != EXPORT_TYPE:
        raise InvalidInput(
            f"{path} is not a ledger export: its first line is not a {EXPORT_TYPE} header; "
            "make one with `dataspace ledger export`."
        )
    keys, checkpoints, time = (value.get(k) for k in ("publicKeys", "checkpoints", "exportedAt"))
    if not _is_string_map(keys) or not isinstance(checkpoints, list) or not isinstance(time, str):
        raise InvalidInput(
            f"The header of {path} lacks publicKeys, checkpoints or exportedAt; export again."
        )
    return ExportHeader(dict(keys), tuple(_checkpoint_of(path, c) for c in checkpoints), time)


def _checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "sequence": checkpoint.sequence,
        "headHash": checkpoint.head_hash,
        "time": checkpoint.time,
        "operator": checkpoint.operator,
        "signature": checkpoint.signature,
    }


def _checkpoint_of(path: Path, value: object) -> Checkpoint:
    if isinstance(value, dict) and set(value) == set(_CHECKPOINT_FIELDS):
        sequence = value["sequence"]
        texts = [value[name] for name in _CHECKPOINT_FIELDS[1:]]
        if isinstance(sequence, int) and all(isinstance(text, str) for text in texts):
            head_hash, time, operator, signature = texts
            return Checkpoint(sequence, head_hash, time, operator, signature)
    raise InvalidInput(
        f"A checkpoint in the header of {path} is not {', '.join(_CHECKPOINT_FIELDS)}; "
        "export again."
    )


def _key_of(keys: Mapping[str, str], actor: str) -> str:
    try:
        return keys[actor]
    except KeyError as exc:
        raise NotFound(
            f"Neither the export nor the keys file holds a public key of {actor!r}."
        ) from exc


def _is_string_map(value: object) -> TypeGuard[dict[str, str]]:
    return isinstance(value, dict) and all(
        isinstance(key, str) and isinstance(text, str) for key, text in value.items()
    )


def _sequence_in(value: object) -> int | None:
    sequence = value.get("sequence") if isinstance(value, dict) else None
    return sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None
