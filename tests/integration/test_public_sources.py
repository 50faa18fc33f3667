"""An authority's extract staged from its own S3 bucket and its own PostgreSQL database.

The S3 tests upload the shipped demo extract with the authority's own S3 user on the test
stack's embedded store; the PostgreSQL tests (DATASPACE_TEST_POSTGRES_URL, set in CI) load it
into a table of their own, dropped afterwards.
"""

from __future__ import annotations

import io
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

from dataspace.adapters.s3 import ensure_bucket, minio_client
from dataspace.config import Settings
from dataspace.errors import InvalidInput, ServiceError
from dataspace.publicdata import source_readers
from dataspace.publicdata.dataset import SOURCE_SCHEMA, monthly_readings
from dataspace.publicdata.sources import (
    ConnectionFacts,
    SourceRequest,
    Staged,
    open_source,
    query_digest,
    stage,
)
from dataspace.stack.s3_users import S3Credentials, ensure_s3_user
from tests.fixtures.databases import POSTGRES_URL_ENV
from tests.helpers import free_port

pytestmark = pytest.mark.integration

SCHEMA = SOURCE_SCHEMA
EXTRACT = monthly_readings(30)


# -- helpers ------------------------------------------------------------------------------------


def s3_connection(credentials: S3Credentials, *, secret: str | None = None) -> ConnectionFacts:
    """An ``aws`` connection as `dataspace publicdata connect` stores it."""
    return ConnectionFacts(
        "bureau_s3",
        "aws",
        login=credentials.access_key,
        password=secret or credentials.secret_key.get_secret_value(),
        extra={"endpoint_url": credentials.endpoint, "region_name": credentials.s3.region},
    )


def encoded(table: pa.Table, suffix: str) -> bytes:
    sink = io.BytesIO()
    if suffix == ".csv":
        pcsv.write_csv(table, sink)
    else:
        pq.write_table(table, sink)
    return sink.getvalue()


def staged_from(
    request: SourceRequest, connection: ConnectionFacts, target: Path
) -> tuple[Staged, pa.Table]:
    staged = stage(open_source(request, connection), target, SCHEMA)
    return staged, pq.read_table(staged.path)


def assert_private(staged: Staged) -> None:
    assert stat.S_IMODE(staged.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(staged.path.parent.stat().st_mode) == 0o700


def refused_stage(
    request: SourceRequest, connection: ConnectionFacts, target: Path, error: type[Exception]
) -> str:
    """The sentence of a stage that must fail; no file, partial or whole, is left behind."""
    with pytest.raises(error) as refused:
        stage(open_source(request, connection), target, SCHEMA)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    message = str(refused.value)
    assert "\n" not in message
    assert message.endswith((".", ")"))
    return message


@pytest.fixture
def bureau(stack_settings: Settings, unique: str) -> tuple[S3Credentials, str]:
    """The authority's own S3 user and a bucket of its own."""
    if not stack_settings.s3_embedded:
        pytest.skip("per-participant users are made on the embedded store; this one is external")
    credentials = ensure_s3_user(stack_settings, f"bureau-{unique}")
    bucket = f"extracts-{unique}"
    ensure_bucket(minio_client(credentials.s3), bucket)
    return credentials, bucket


def upload(credentials: S3Credentials, bucket: str, key: str, body: bytes) -> str:
    client = minio_client(credentials.s3)
    client.put_object(bucket, key, io.BytesIO(body), len(body))
    return f"{bucket}/{key}"


# -- an object in the authority's bucket ----------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_object_in_the_authoritys_bucket_is_staged_as_it_was_uploaded(
    bureau: tuple[S3Credentials, str], suffix: str, tmp_path: Path
) -> None:
    credentials, bucket = bureau
    path = upload(credentials, bucket, f"energy/2025{suffix}", encoded(EXTRACT, suffix))
    target = tmp_path / "staging" / "run" / "source.parquet"
    staged, table = staged_from(
        SourceRequest("bureau_s3", object=path), s3_connection(credentials), target
    )
    assert table.equals(EXTRACT)  # values, types and order of every column and row
    assert staged.rows == EXTRACT.num_rows == 360
    assert staged.source == {
        "kind": "s3-object", "connection": "bureau_s3", "endpoint": credentials.endpoint,
        "bucket": bucket, "key": f"energy/2025{suffix}", "format": suffix.removeprefix("."),
    }  # fmt: skip
    assert_private(staged)
    # A timestamp without a zone in a CSV is read as UTC; extra columns are never read.
    naive = EXTRACT.set_column(
        6, "reading_time", pc.strftime(EXTRACT["reading_time"], "%Y-%m-%dT%H:%M:%S")
    )
    extra = naive.append_column("remark", pa.array(["x"] * naive.num_rows))
    path = upload(credentials, bucket, "energy/naive.csv", encoded(extra, ".csv"))
    _, table = staged_from(
        SourceRequest("bureau_s3", object=path),
        s3_connection(credentials),
        tmp_path / "naive.parquet",
    )
    assert table.equals(EXTRACT)


def test_another_participants_key_or_a_wrong_secret_cannot_stage_the_authoritys_object(
    bureau: tuple[S3Credentials, str], stack_settings: Settings, unique: str, tmp_path: Path
) -> None:
    credentials, bucket = bureau
    path = upload(credentials, bucket, "energy.parquet", encoded(EXTRACT, ".parquet"))
    request = SourceRequest("bureau_s3", object=path)
    other = ensure_s3_user(stack_settings, f"operator-{unique}")
    target = tmp_path / "staging" / "source.parquet"
    message = refused_stage(request, s3_connection(other), target, InvalidInput)
    assert message.startswith(f"The object {path} is not in the store of connection bureau_s3, or")
    assert other.secret_key.get_secret_value() not in message
    wrong = s3_connection(credentials, secret="not-the-secret")
    message = refused_stage(request, wrong, target, InvalidInput)
    assert "refused the key of connection bureau_s3" in message
    assert "not-the-secret" not in message
    message = refused_stage(
        SourceRequest("bureau_s3", object=f"{bucket}/absent.csv"),
        s3_connection(credentials),
        target,
        InvalidInput,
    )
    assert f"The object {bucket}/absent.csv is not in the store" in message


def test_a_store_that_does_not_answer_is_a_service_error(
    bureau: tuple[S3Credentials, str], tmp_path: Path
) -> None:
    credentials, bucket = bureau
    connection = s3_connection(credentials)
    gone = ConnectionFacts(
        "bureau_s3", "aws", login=connection.login, password=connection.password,
        extra={"endpoint_url": f"http://127.0.0.1:{free_port()}"},
    )  # fmt: skip
    request = SourceRequest("bureau_s3", object=f"{bucket}/energy.csv")
    message = refused_stage(request, gone, tmp_path / "s" / "source.parquet", ServiceError)
    assert "The object store of connection bureau_s3 (http://127.0.0.1:" in message
    assert credentials.secret_key.get_secret_value() not in message


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_object_without_a_column_or_with_a_wrong_type_is_refused(
    bureau: tuple[S3Credentials, str], suffix: str, tmp_path: Path
) -> None:
    credentials, bucket = bureau
    connection = s3_connection(credentials)
    target = tmp_path / "staging" / "source.parquet"
    missing = upload(
        credentials, bucket, f"missing{suffix}", encoded(EXTRACT.drop_columns(["address"]), suffix)
    )
    message = refused_stage(
        SourceRequest("bureau_s3", object=missing), connection, target, InvalidInput
    )
    assert message.startswith(
        f"The object {missing} of connection bureau_s3 has no column address; it needs the "
        "columns credit_code,"
    )
    texts = EXTRACT.set_column(
        7, "electricity_kwh", pc.cast(EXTRACT["electricity_kwh"], pa.string())
    )
    texts = texts.set_column(
        7, "electricity_kwh", pc.binary_join_element_wise(texts["electricity_kwh"], " kWh", "")
    )
    wrong = upload(credentials, bucket, f"wrong{suffix}", encoded(texts, suffix))
    message = refused_stage(
        SourceRequest("bureau_s3", object=wrong), connection, target, InvalidInput
    )
    if suffix == ".parquet":
        assert message.startswith(
            f"The column electricity_kwh of the object {wrong} of connection bureau_s3 holds "
            "string values, not int64"
        )
    else:
        assert (
            f"The object {wrong} of connection bureau_s3 is not CSV of the columns needed"
            in message
        )
        assert "electricity_kwh" in message or "kWh" in message


def test_an_object_that_is_not_what_its_suffix_says_is_refused(
    bureau: tuple[S3Credentials, str], tmp_path: Path
) -> None:
    credentials, bucket = bureau
    connection = s3_connection(credentials)
    target = tmp_path / "staging" / "source.parquet"
    csv_body = encoded(EXTRACT, ".csv")
    path = upload(credentials, bucket, "really-a.csv.parquet", csv_body)
    message = refused_stage(
        SourceRequest("bureau_s3", object=path), connection, target, InvalidInput
    )
    assert message == f"The object {path} of connection bureau_s3 is not a readable Parquet file."
    path = upload(credentials, bucket, "really-parquet.csv", encoded(EXTRACT, ".parquet"))
    message = refused_stage(
        SourceRequest("bureau_s3", object=path), connection, target, InvalidInput
    )
    assert message.startswith(
        f"The object {path} of connection bureau_s3 has no column credit_code; it needs"
    )


def test_a_bad_value_late_in_a_csv_leaves_no_partial_file(
    bureau: tuple[S3Credentials, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials, bucket = bureau
    monkeypatch.setattr(source_readers, "CSV_BLOCK_BYTES", 16 * 1024)  # many batches
    body = encoded(monthly_readings(), ".csv")
    lines = body.decode().splitlines()
    lines[-1] = lines[-1].replace(lines[-1].split(",")[7], "n/a")
    path = upload(credentials, bucket, "late.csv", "\n".join(lines).encode())
    target = tmp_path / "staging" / "source.parquet"
    written: list[int] = []
    real_stage_batches = source_readers.S3ObjectSource.batches

    def counting(
        self: source_readers.S3ObjectSource, schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        for batch in real_stage_batches(self, schema):
            written.append(batch.num_rows)
            assert target.exists()  # the file was being written
            assert stat.S_IMODE(target.stat().st_mode) == 0o600
            yield batch

    monkeypatch.setattr(source_readers.S3ObjectSource, "batches", counting)
    refused_stage(
        SourceRequest("bureau_s3", object=path), s3_connection(credentials), target, InvalidInput
    )
    assert len(written) > 3


# -- a table or query in the authority's PostgreSQL ------------------------------------------------

COLUMNS_SQL = (
    "credit_code text not null, enterprise_name text not null, legal_representative text not null,"
    " contact_phone text not null, address text, industry text not null,"
    " reading_time timestamptz not null, electricity_kwh bigint not null,"
    " so2_kg double precision not null, nox_kg double precision not null,"
    " co2_t numeric(12, 3) not null, remark text"
)


@pytest.fixture
def postgres() -> Iterator[Engine]:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(
            f"set {POSTGRES_URL_ENV}=postgresql+psycopg2://postgres@127.0.0.1:5432/test to run "
            "the PostgreSQL sources"
        )
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def energy_table(postgres: Engine) -> Iterator[str]:
    """A table of the demo extract (plus a column the source does not need), dropped after."""
    name = f"energy_{uuid.uuid4().hex[:10]}"
    placeholders = ", ".join(["%s"] * len(SCHEMA))
    with postgres.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE {name} ({COLUMNS_SQL})")
        rows = [tuple(row.values()) for row in EXTRACT.to_pylist()]
        connection.exec_driver_sql(
            f"INSERT INTO {name} ({', '.join(SCHEMA.names)}) VALUES ({placeholders})",  # noqa: S608
            rows,
        )
    yield name
    with postgres.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def pg_connection(engine: Engine, **changes: object) -> ConnectionFacts:
    """A ``postgres`` connection as Airflow holds it (the database name in ``schema``)."""
    url = make_url(engine.url)
    facts = {
        "host": url.host, "port": url.port, "login": url.username, "password": url.password,
        "schema": url.database, **changes,
    }  # fmt: skip
    return ConnectionFacts("bureau_pg", "postgres", **facts)  # type: ignore[arg-type]


ORDER = [("credit_code", "ascending"), ("reading_time", "ascending")]


@pytest.mark.postgres
def test_a_table_and_a_query_are_staged_as_they_were_inserted(
    postgres: Engine, energy_table: str, tmp_path: Path
) -> None:
    connection = pg_connection(postgres)
    request = SourceRequest("bureau_pg", table=f"public.{energy_table}")
    staged, table = staged_from(request, connection, tmp_path / "t" / "source.parquet")
    assert table.sort_by(ORDER).equals(EXTRACT.sort_by(ORDER))  # numeric co2_t read exactly
    assert staged.rows == 360
    assert staged.source["kind"] == "postgresql-table"
    assert staged.source["table"] == f"public.{energy_table}"
    assert_private(staged)
    query = f"SELECT * FROM {energy_table} WHERE industry LIKE 'C3%' ORDER BY 1, 7"  # noqa: S608
    request = SourceRequest("bureau_pg", query=query)
    staged, table = staged_from(request, connection, tmp_path / "q" / "source.parquet")
    expected = EXTRACT.filter(pc.starts_with(EXTRACT["industry"], "C3")).sort_by(ORDER)
    assert 0 < table.num_rows < EXTRACT.num_rows
    assert table.equals(expected)
    assert "query" not in staged.source  # its literals stay with the authority
    assert staged.source["query_sha256"] == query_digest(query)
    assert len(staged.source["query_sha256"]) == 64


@pytest.mark.postgres
def test_a_missing_table_a_wrong_type_or_an_empty_value_is_refused(
    postgres: Engine, energy_table: str, tmp_path: Path
) -> None:
    connection = pg_connection(postgres)
    target = tmp_path / "staging" / "source.parquet"
    absent = SourceRequest("bureau_pg", table="absent_energy")
    message = refused_stage(absent, connection, target, InvalidInput)
    assert message.startswith(
        "The database of connection bureau_pg refused the table absent_energy (ERROR:  "
        'relation "absent_energy" does not exist'
    )
    columns = [f"{n}::text AS {n}" if n == "electricity_kwh" else n for n in SCHEMA.names]
    texts = f"SELECT {', '.join(columns)} FROM {energy_table}"  # noqa: S608
    message = refused_stage(
        SourceRequest("bureau_pg", query=texts), connection, target, InvalidInput
    )
    assert message.startswith(
        "The column electricity_kwh of the query of connection bureau_pg holds string values, "
        "not int64"
    )
    with postgres.begin() as change:
        change.exec_driver_sql(
            f"UPDATE {energy_table} SET address = NULL WHERE electricity_kwh IN "  # noqa: S608
            f"(SELECT electricity_kwh FROM {energy_table} LIMIT 2)"
        )
    everything = SourceRequest("bureau_pg", table=energy_table)
    message = refused_stage(everything, connection, target, InvalidInput)
    assert (
        f"column address of the table {energy_table} of connection bureau_pg has 2 empty" in message
    )


@pytest.mark.postgres
def test_a_query_runs_in_a_read_only_transaction(
    postgres: Engine, energy_table: str, tmp_path: Path
) -> None:
    sequence = f"{energy_table}_serial"
    with postgres.begin() as change:
        change.exec_driver_sql(f"CREATE SEQUENCE {sequence}")
    writing = f"SELECT e.*, nextval('{sequence}') AS serial FROM {energy_table} e"  # noqa: S608
    try:
        message = refused_stage(
            SourceRequest("bureau_pg", query=writing), pg_connection(postgres),
            tmp_path / "staging" / "source.parquet", InvalidInput,
        )  # fmt: skip
    finally:
        with postgres.begin() as change:
            change.exec_driver_sql(f"DROP SEQUENCE {sequence}")
    assert "(ERROR:  cannot execute nextval() in a read-only transaction)" in message


@pytest.mark.postgres
def test_a_database_that_does_not_answer_or_refuses_the_login_is_named(
    postgres: Engine, energy_table: str, tmp_path: Path
) -> None:
    target = tmp_path / "staging" / "source.parquet"
    request = SourceRequest("bureau_pg", table=energy_table)
    gone = pg_connection(postgres, host="127.0.0.1", port=free_port(), password="s3cr3t-pw")
    message = refused_stage(request, gone, target, ServiceError)
    assert message.startswith("The database of connection bureau_pg (127.0.0.1:")
    assert "s3cr3t-pw" not in message
    nobody = pg_connection(postgres, schema=f"absent_{uuid.uuid4().hex[:6]}")
    message = refused_stage(request, nobody, target, InvalidInput)
    assert "does not exist" in message
