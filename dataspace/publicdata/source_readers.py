"""The two readers of an authority's extract: an object in its S3 store, a table or query in
its PostgreSQL database. Both stream: memory holds one batch, never the whole extract.

Every refusal names the connection and the object, table or query, never a secret: the
caller's data or credentials are wrong (InvalidInput) or the service does not answer
(ServiceError).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dataspace.errors import ConfigError, InvalidInput, ServiceError
from dataspace.publicdata.sources import OBJECT_FORMATS, ConnectionFacts, query_digest

if TYPE_CHECKING:
    import pyarrow.csv as pcsv
    from pyarrow.fs import S3FileSystem
    from sqlalchemy.engine import URL
    from sqlalchemy.sql import Select
    from sqlalchemy.sql.expression import ColumnClause

BATCH_ROWS = 64 * 1024
CSV_BLOCK_BYTES = 4 * 1024 * 1024
DEFAULT_REGION = "us-east-1"
# What pyarrow's S3 errors say when the store answered but refused the key or its signature.
_REFUSED_KEY = ("ACCESS_DENIED", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")
# libpq's words for a database that answered but refused who we are or what we named.
_REFUSED_LOGIN = ("password authentication failed", "does not exist", "no password supplied")
_DATABASE_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout")
_MISSING_CSV_COLUMN = re.compile(r"Column '([^']*)'")


def fits(actual: pa.DataType, expected: pa.DataType) -> bool:
    """A column of ``actual`` type may stand for ``expected``: the same kind of value, cast
    without loss (a string is never read as a number, a float never as an integer)."""
    if pa.types.is_string(expected):
        return bool(pa.types.is_string(actual) or pa.types.is_large_string(actual))
    if pa.types.is_integer(expected):
        return bool(pa.types.is_integer(actual))
    if pa.types.is_floating(expected):
        return bool(
            pa.types.is_integer(actual) or pa.types.is_floating(actual)
            or pa.types.is_decimal(actual)
        )  # fmt: skip
    if pa.types.is_timestamp(expected):
        return bool(pa.types.is_timestamp(actual))  # one without a zone is read as UTC
    return bool(actual == expected)


def conform(columns: Sequence[pa.Array], schema: pa.Schema, where: str) -> pa.RecordBatch:
    """``columns`` (in ``schema``'s order) as a batch of ``schema``, or one sentence."""
    arrays = []
    for column, expected in zip(columns, schema, strict=True):
        if column.type != pa.null() and not fits(column.type, expected.type):
            raise InvalidInput(
                f"The column {expected.name} of {where} holds {column.type} values, not "
                f"{expected.type}; convert it in the source (or in a query) and try again."
            )
        if not expected.nullable and column.null_count:
            raise InvalidInput(
                f"The column {expected.name} of {where} has {column.null_count} empty values "
                "but every row needs one; fill them in or leave those rows out with a query."
            )
        # Arrow's decimal-to-double cast is not correctly rounded (186.456 would become
        # 186.45600000000002); its text-to-double parsing is.
        decimal = pa.types.is_decimal(column.type) and pa.types.is_floating(expected.type)
        try:
            found = column.cast(pa.string()) if decimal else column
            arrays.append(found.cast(expected.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInput(
                f"The column {expected.name} of {where} has values that do not fit "
                f"{expected.type} ({exc}); fix them in the source and try again."
            ) from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# -- an object in the authority's S3 store ---------------------------------------------------


class S3ObjectSource:
    """A Parquet or CSV object, read with pyarrow's S3 filesystem under the connection's key."""

    def __init__(self, connection: ConnectionFacts, path: str) -> None:
        self.connection = connection
        self.path = path
        self.format = OBJECT_FORMATS[PurePosixPath(path).suffix.lower()]
        self.where = f"the object {path} of connection {connection.connection_id}"

    def describe(self) -> dict[str, Any]:
        bucket, _, key = self.path.partition("/")
        return {
            "kind": "s3-object",
            "connection": self.connection.connection_id,
            "endpoint": self.connection.extra.get("endpoint_url"),
            "bucket": bucket,
            "key": key,
            "format": self.format,
        }

    def batches(self, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        filesystem = self._filesystem()
        self._require_object(filesystem)
        try:
            if self.format == "parquet":
                yield from self._parquet(filesystem, schema)
            else:
                yield from self._csv(filesystem, schema)
        except OSError as exc:
            raise self._store_error(exc) from exc

    def _filesystem(self) -> S3FileSystem:
        from pydantic import SecretStr  # noqa: PLC0415

        from dataspace.adapters.s3 import arrow_filesystem  # noqa: PLC0415
        from dataspace.config import parse_s3_endpoint  # noqa: PLC0415

        facts = self.connection
        endpoint = facts.extra.get("endpoint_url")
        if not endpoint or not facts.login or not facts.password:
            raise InvalidInput(
                f"The connection {facts.connection_id} needs a login (access key), a password "
                "(secret key) and endpoint_url in its extra; add them with `dataspace "
                "publicdata connect` or `airflow connections add`."
            )
        try:
            parsed = parse_s3_endpoint(
                str(endpoint), access_key=facts.login, secret_key=SecretStr(facts.password),
                region=str(facts.extra.get("region_name") or DEFAULT_REGION),
            )  # fmt: skip
        except ConfigError as exc:  # the endpoint is the connection's, not this node's setting
            raise InvalidInput(f"The connection {facts.connection_id}: {exc}") from exc
        return arrow_filesystem(parsed)

    def _require_object(self, filesystem: S3FileSystem) -> None:
        from pyarrow.fs import FileType  # noqa: PLC0415

        try:
            found = filesystem.get_file_info(self.path)
        except OSError as exc:
            raise self._store_error(exc) from exc
        if found.type != FileType.File:
            raise InvalidInput(
                f"The object {self.path} is not in the store of connection "
                f"{self.connection.connection_id}, or that connection's key cannot read it (a "
                "bucket belongs to the key that made it); upload it there or name the right "
                "object and connection."
            )

    def _parquet(self, filesystem: S3FileSystem, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq  # noqa: PLC0415

        with filesystem.open_input_file(self.path) as stream:
            try:
                parquet = pq.ParquetFile(stream)
            except pa.ArrowInvalid as exc:
                raise InvalidInput(
                    f"{_capitalized(self.where)} is not a readable Parquet file."
                ) from exc
            missing = [name for name in schema.names if name not in parquet.schema_arrow.names]
            self._require_columns(missing, schema)
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=schema.names):
                yield conform(batch.select(schema.names).columns, schema, self.where)

    def _csv(self, filesystem: S3FileSystem, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        with (
            filesystem.open_input_stream(self.path) as stream,
            self._open_csv(stream, schema) as reader,
        ):
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid as exc:
                    raise self._csv_error(exc) from exc
                columns = [
                    _utc(column, field, self.where) if pa.types.is_timestamp(field.type) else column
                    for column, field in zip(batch.columns, schema, strict=True)
                ]
                yield conform(columns, schema, self.where)

    def _open_csv(self, stream: Any, schema: pa.Schema) -> pcsv.CSVStreamingReader:
        import pyarrow.csv as pcsv  # noqa: PLC0415

        # Every batch gets the same types, never inferred per block; times are read as text
        # first, because a CSV holds them with a zone offset or, in local files, without.
        as_read = pa.schema(
            [pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema]
        )
        options = pcsv.ConvertOptions(
            column_types=as_read, include_columns=schema.names, strings_can_be_null=False
        )
        try:
            return pcsv.open_csv(
                stream,
                read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                convert_options=options,
            )
        except pa.ArrowKeyError as exc:  # a column of include_columns is not in the header
            found = _MISSING_CSV_COLUMN.search(str(exc))
            self._require_columns([found.group(1) if found else "named"], schema)
            raise
        except pa.ArrowInvalid as exc:
            raise self._csv_error(exc) from exc

    def _require_columns(self, missing: list[str], schema: pa.Schema) -> None:
        if missing:
            raise InvalidInput(
                f"{_capitalized(self.where)} has no column {', '.join(missing)}; it needs "
                f"the columns {', '.join(schema.names)}."
            )

    def _csv_error(self, exc: pa.ArrowInvalid) -> InvalidInput:
        return InvalidInput(
            f"{_capitalized(self.where)} is not CSV of the columns needed ({exc}); fix the "
            "file and upload it again."
        )

    def _store_error(self, exc: OSError) -> InvalidInput | ServiceError:
        text = str(exc)
        if any(code in text for code in _REFUSED_KEY):
            return InvalidInput(
                f"The object store refused the key of connection "
                f"{self.connection.connection_id} for {self.path}; give the connection the "
                "keys of the participant whose bucket it is (`dataspace stack s3-user`)."
            )
        return ServiceError(
            f"The object store of connection {self.connection.connection_id} "
            f"({self.connection.extra.get('endpoint_url')}) could not be read "
            f"({text.splitlines()[0] if text else type(exc).__name__}); check that it runs."
        )


# -- a table or query in the authority's PostgreSQL database ---------------------------------


class DatabaseSource:
    """A table or one SELECT, read in a read-only transaction through a server-side cursor."""

    def __init__(self, connection: ConnectionFacts, table: str | None, query: str | None) -> None:
        self.connection = connection
        self.table = table
        self.query = query
        self.named = f"the table {table}" if table else "the query"
        self.where = f"{self.named} of connection {connection.connection_id}"

    def describe(self) -> dict[str, Any]:
        facts = self.connection
        found: dict[str, Any] = {
            "kind": "postgresql-table" if self.table else "postgresql-query",
            "connection": facts.connection_id,
            "host": facts.host,
            "port": facts.port,
            "database": facts.schema,
        }
        if self.table:
            return {**found, "table": self.table}
        assert self.query is not None  # noqa: S101 (one of the two, by construction)
        # Only the query's digest: its text may hold literals (a credit code in a WHERE) that
        # must not reach the report the licensed operators read; the authority keeps the text.
        return {**found, "query_sha256": query_digest(self.query)}

    def batches(self, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        from sqlalchemy import create_engine  # noqa: PLC0415
        from sqlalchemy.exc import DBAPIError, StatementError  # noqa: PLC0415
        from sqlalchemy.pool import NullPool  # noqa: PLC0415

        engine = create_engine(self._url(), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                streaming = connection.execution_options(
                    stream_results=True, max_row_buffer=BATCH_ROWS, postgresql_readonly=True
                )
                result = streaming.execute(self._statement(schema))
                for rows in result.partitions(BATCH_ROWS):
                    found = zip(schema.names, zip(*rows, strict=True), strict=True)
                    columns = [_array(values, name, self.where) for name, values in found]
                    yield conform(columns, schema, self.where)
        except DBAPIError as exc:
            raise self._database_error(exc) from exc
        except StatementError as exc:
            raise InvalidInput(f"{_capitalized(self.where)} cannot be run ({exc.orig}).") from exc
        finally:
            engine.dispose()

    def _url(self) -> URL:
        from sqlalchemy.engine import URL  # noqa: PLC0415

        facts = self.connection
        if not facts.host or not facts.schema:
            raise InvalidInput(
                f"The connection {facts.connection_id} needs a host and a schema (the "
                "database's name, as Airflow's postgres connections call it)."
            )
        options = {k: str(v) for k, v in facts.extra.items() if k in _DATABASE_OPTIONS}
        return URL.create(
            "postgresql+psycopg2", username=facts.login, password=facts.password,
            host=facts.host, port=facts.port, database=facts.schema, query=options,
        )  # fmt: skip

    def _statement(self, schema: pa.Schema) -> Select[Any]:
        """Only the columns needed, by name, from the table or from the query as a subquery."""
        from sqlalchemy import column, select, table, text  # noqa: PLC0415

        columns: list[ColumnClause[Any]] = [column(name) for name in schema.names]
        if self.table:
            owner, _, name = self.table.rpartition(".")
            return select(*columns).select_from(table(name, schema=owner or None))
        assert self.query is not None  # noqa: S101 (one of the two, by construction)
        found = text(self.query).columns(*columns).subquery("source")
        return select(*(found.c[name] for name in schema.names))

    def _database_error(self, exc: Any) -> InvalidInput | ServiceError:
        message = str(getattr(exc.orig, "pgerror", None) or exc.orig).strip().splitlines()
        first = message[0] if message else type(exc.orig).__name__
        code = getattr(exc.orig, "pgcode", None)
        if code is None and not any(words in first for words in _REFUSED_LOGIN):
            return ServiceError(
                f"The database of connection {self.connection.connection_id} "
                f"({self.connection.host}:{self.connection.port or 5432}) does not answer "
                f"({first}); check that it runs and the connection's host and port."
            )
        return InvalidInput(
            f"The database of connection {self.connection.connection_id} refused {self.named} "
            f"({first}); fix the {'table' if self.table else 'query'} or the connection's "
            "login and try again."
        )


def _utc(column: pa.Array, field: pa.Field, where: str) -> pa.Array:
    """Times written with a zone offset, or without one (then they are UTC)."""
    try:
        return column.cast(field.type)
    except pa.ArrowInvalid:
        pass
    try:
        return column.cast(pa.timestamp(field.type.unit)).cast(field.type)
    except pa.ArrowInvalid as exc:
        raise InvalidInput(
            f"The column {field.name} of {where} has values that are not times ({exc}); write "
            "them as 2025-03-25T08:00:00+08:00 (or without the offset for UTC)."
        ) from exc


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _array(values: Sequence[Any], name: str, where: str) -> pa.Array:
    """The values of one column as Arrow infers them (conform then checks their kind)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(
            f"The column {name} of {where} holds values of mixed kinds ({exc}); convert it to "
            "one type in the source or in a query."
        ) from exc
