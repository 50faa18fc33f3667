"""Where a public-data release reads the authority's extract: its own S3 object or database.

An authority holds its data as a Parquet or CSV object in its own bucket, or as a table (or a
query) in its own database; a release names one of them and the Airflow connection that
reaches it (``{"connection": "js_bureau_s3", "object": "js-bureau-extracts/energy-2025.csv"}``).
The DAG resolves the connection and passes plain values (:class:`ConnectionFacts`), so nothing
here imports Airflow.

Guarantees:

- :func:`parse_source` accepts exactly one of ``object``, ``table`` and ``query`` with a
  ``connection``; anything else (an unknown key included) is one InvalidInput sentence;
- :func:`open_source` reads an ``aws`` connection (login = access key, password = secret key,
  extra ``endpoint_url`` and ``region_name``) or a ``postgres`` one, nothing else;
- a :class:`Source` streams record batches of exactly the schema asked for (extra columns in
  the source are never read); a missing column, a value of the wrong type, an unreadable
  object, a missing table or refused credentials is one InvalidInput sentence, a store or
  database that does not answer one ServiceError sentence; neither ever holds a secret;
- :func:`stage` writes the extract as Parquet into a 0700 directory, its file 0600 before the
  first byte, and removes the partial file when anything fails.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from dataspace.canonical import file_sha256
from dataspace.desensitize.rules import Rules
from dataspace.errors import InvalidInput
from dataspace.private_paths import open_private, private_directory

SOURCE_KINDS = ("object", "table", "query")
OBJECT_FORMATS = {".parquet": "parquet", ".csv": "csv"}
S3_CONNECTION_TYPES = ("aws",)
DATABASE_CONNECTION_TYPES = ("postgres", "postgresql")
EXAMPLE = '{"connection": "js_bureau_s3", "object": "js-bureau-extracts/energy-2025.csv"}'
_CONNECTION_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")  # as Airflow validates it
_TABLE = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*")
_QUERY_START = re.compile(r"(?:select|with)\b", re.IGNORECASE)


@dataclass(frozen=True)
class SourceRequest:
    """What a release names: a connection and one of an object, a table or a query."""

    connection: str
    object: str | None = None
    table: str | None = None
    query: str | None = None

    @property
    def kind(self) -> str:
        return next(kind for kind in SOURCE_KINDS if getattr(self, kind) is not None)


def parse_source(value: object) -> SourceRequest:
    """The source a DAG param or CLI option names; one InvalidInput sentence if it is wrong."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"The source must be a JSON object such as {EXAMPLE}.")
    unknown = sorted(str(key) for key in value if key not in ("connection", *SOURCE_KINDS))
    if unknown:
        raise InvalidInput(
            f"The source has unknown keys {', '.join(unknown)}; give only connection and one "
            f"of object, table or query, e.g. {EXAMPLE}."
        )
    connection = value.get("connection")
    if not isinstance(connection, str) or not _CONNECTION_ID.fullmatch(connection):
        raise InvalidInput(
            "The source needs a connection: the id of the Airflow connection to the "
            f"authority's store or database (letters, digits, _ . -), e.g. {EXAMPLE}."
        )
    given = {kind: value[kind] for kind in SOURCE_KINDS if value.get(kind) is not None}
    if len(given) != 1:
        raise InvalidInput(
            f"The source names {len(given)} of object, table and query; give exactly one "
            "(an object path in the store, a table or one SELECT in the database)."
        )
    ((kind, text),) = given.items()
    if not isinstance(text, str):
        raise InvalidInput(f"The source's {kind} must be a string, not {type(text).__name__}.")
    check = {"object": check_object, "table": _check_table, "query": _check_query}[kind]
    return SourceRequest(connection, **{kind: check(text)})


def check_connection_id(connection: str) -> str:
    """An Airflow connection id as Airflow accepts it; InvalidInput otherwise."""
    if not _CONNECTION_ID.fullmatch(connection):
        raise InvalidInput(
            f"The connection id {connection!r} is not valid; use letters, digits, _ . and - "
            "(at most 200), e.g. js_bureau_s3."
        )
    return connection


def check_object(path: str) -> str:
    bucket, _, key = path.strip("/").partition("/")
    if not bucket or not key or Path(key).suffix.lower() not in OBJECT_FORMATS:
        raise InvalidInput(
            f"The source object {path!r} is not bucket/path/file.parquet or "
            "bucket/path/file.csv; name the object by its bucket and key, ending in .parquet "
            "or .csv."
        )
    return f"{bucket}/{key}"


def _check_table(name: str) -> str:
    if not _TABLE.fullmatch(name):
        raise InvalidInput(
            f"The source table {name!r} is not a table name; give table or schema.table "
            "(letters, digits and _), or a query for anything else."
        )
    return name


def _check_query(query: str) -> str:
    text = query.strip().removesuffix(";").rstrip()
    if not _QUERY_START.match(text) or ";" in text:
        raise InvalidInput(
            "The source query must be one SELECT (or WITH ... SELECT) statement without ';' "
            "inside it; put anything else in a view and name it as the table."
        )
    return text


@dataclass(frozen=True)
class ConnectionFacts:
    """The plain values of an Airflow connection (its password never in repr or messages)."""

    connection_id: str
    conn_type: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_airflow(cls, connection: Any) -> ConnectionFacts:
        """From an ``airflow.sdk`` (or models) Connection, read by its attributes."""
        extra = getattr(connection, "extra_dejson", None) or {}
        return cls(
            connection_id=str(connection.conn_id),
            conn_type=str(connection.conn_type or ""),
            host=connection.host or None,
            port=int(connection.port) if connection.port else None,
            login=connection.login or None,
            password=connection.password or None,
            schema=connection.schema or None,
            extra=dict(extra),
        )


class Source(Protocol):
    """An authority's extract, read once, as a stream."""

    def describe(self) -> dict[str, Any]:
        """Where the data comes from, for the ledger and the report: never a secret or a value."""
        ...

    def batches(self, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """The rows as batches of exactly ``schema``; InvalidInput/ServiceError as above."""
        ...


def open_source(request: SourceRequest, connection: ConnectionFacts) -> Source:
    """The reader for ``request`` through ``connection``; nothing is read yet."""
    from dataspace.publicdata import source_readers  # noqa: PLC0415 (S3 and SQL clients)

    kind = connection.conn_type.lower()
    if request.object is not None and kind in S3_CONNECTION_TYPES:
        return source_readers.S3ObjectSource(connection, request.object)
    if request.object is None and kind in DATABASE_CONNECTION_TYPES:
        return source_readers.DatabaseSource(connection, request.table, request.query)
    if kind not in S3_CONNECTION_TYPES + DATABASE_CONNECTION_TYPES:
        raise InvalidInput(
            f"The connection {connection.connection_id} is of type {connection.conn_type!r}; "
            "a source is read through an 'aws' connection (an S3 object) or a 'postgres' "
            "connection (a table or query)."
        )
    wanted = "an object" if kind in S3_CONNECTION_TYPES else "a table or query"
    raise InvalidInput(
        f"The connection {connection.connection_id} ({connection.conn_type}) reaches "
        f"{wanted}, not a {request.kind}; name {wanted} or another connection."
    )


def query_digest(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


def input_schema(rules: Rules, product_schema: pa.Schema) -> pa.Schema:
    """The columns a source must provide for ``rules`` to make ``product_schema``.

    The product's own columns stand in place: its pseudonym becomes the source it is made
    of and the dropped columns, its area columns the address, its period the time column;
    every other product column is kept as it is.
    """
    text = pa.string()
    replaced = {
        rules.pseudonym_column: [rules.pseudonym_source, *rules.drop],
        rules.area_columns[0]: [rules.address_column],
        rules.period_column: [rules.time_column],
    }
    derived = set(rules.area_columns[1:])
    fields: list[pa.Field] = []
    for product_field in product_schema:
        if product_field.name in derived:
            continue
        for name in replaced.get(product_field.name, [product_field.name]):
            kind = pa.timestamp("us", tz="UTC") if name == rules.time_column else text
            keep = name == product_field.name
            fields.append(product_field if keep else pa.field(name, kind, nullable=False))
    return pa.schema(fields)


@dataclass(frozen=True)
class Staged:
    """The staged extract: where, how many rows, its SHA-256, and where it came from."""

    path: Path
    rows: int
    sha256: str
    source: dict[str, Any]


def stage(source: Source, target: Path, schema: pa.Schema) -> Staged:
    """Write ``source`` as Parquet (zstd) at ``target``, private from the first byte.

    On any failure the partial file is removed and the error raised again.
    """
    import pyarrow.parquet as pq  # noqa: PLC0415

    private_directory(target.parent)
    rows = 0
    try:
        with (
            open_private(target) as handle,
            pq.ParquetWriter(handle, schema, compression="zstd") as writer,
        ):
            for batch in source.batches(schema):
                writer.write_batch(batch)
                rows += batch.num_rows
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return Staged(target, rows, file_sha256(target), source.describe())
