"""The source a public-data release names, and the columns it must provide (no services)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from dataspace.dataplane.schema_check import arrow_schema, load_avro_schema
from dataspace.desensitize.rules import load_rules
from dataspace.errors import InvalidInput
from dataspace.publicdata.dataset import SOURCE_SCHEMA
from dataspace.publicdata.sources import (
    ConnectionFacts,
    SourceRequest,
    input_schema,
    open_source,
    parse_source,
)

SCHEMAS = Path(__file__).parents[2] / "schemas"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"connection": "js_bureau_s3", "object": "js-bureau-extracts/energy-2025.csv"},
            SourceRequest("js_bureau_s3", object="js-bureau-extracts/energy-2025.csv"),
        ),
        (
            {"connection": "s3", "object": "/b/a/b/x.PARQUET"},
            SourceRequest("s3", object="b/a/b/x.PARQUET"),
        ),
        ({"connection": "pg", "table": "energy"}, SourceRequest("pg", table="energy")),
        (
            {"connection": "pg", "table": "ops.energy_2025"},
            SourceRequest("pg", table="ops.energy_2025"),
        ),
        (
            {"connection": "pg", "query": "  SELECT * FROM energy WHERE x > 1;  "},
            SourceRequest("pg", query="SELECT * FROM energy WHERE x > 1"),
        ),
        (
            {"connection": "pg", "query": "with e as (select 1) select * from e", "table": None},
            SourceRequest("pg", query="with e as (select 1) select * from e"),
        ),
    ],
)
def test_a_source_is_a_connection_and_one_object_table_or_query(
    value: dict[str, Any], expected: SourceRequest
) -> None:
    assert parse_source(value) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("js-bureau-extracts/energy-2025.csv", "must be a JSON object such as"),
        (["pg", "energy"], "must be a JSON object such as"),
        ({"connection": "pg", "table": "t", "where": "x"}, "unknown keys where; give only"),
        ({"connection": "pg", "tables": "t"}, "unknown keys tables"),
        ({"table": "energy"}, "needs a connection"),
        ({"connection": "", "table": "energy"}, "needs a connection"),
        ({"connection": "pg;drop", "table": "energy"}, "needs a connection"),
        ({"connection": "pg"}, "names 0 of object, table and query; give exactly one"),
        ({"connection": "pg", "table": "t", "query": "select 1"}, "names 2 of object"),
        ({"connection": "pg", "table": 3}, "table must be a string, not int"),
        ({"connection": "s3", "object": "energy.csv"}, "is not bucket/path/file.parquet"),
        ({"connection": "s3", "object": "bucket/energy.xlsx"}, "ending in .parquet or .csv"),
        ({"connection": "s3", "object": "bucket/"}, "is not bucket/path/file.parquet"),
        ({"connection": "pg", "table": "energy; drop table x"}, "is not a table name"),
        ({"connection": "pg", "table": "a.b.c"}, "give table or schema.table"),
        ({"connection": "pg", "table": '"Energy"'}, "is not a table name"),
        ({"connection": "pg", "query": "delete from energy"}, "must be one SELECT"),
        ({"connection": "pg", "query": "select 1; delete from energy"}, "without ';'"),
        ({"connection": "pg", "query": "selected"}, "must be one SELECT"),
    ],
)
def test_every_other_source_is_refused_with_what_to_give(value: object, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_source(value)
    assert words in str(refused.value)
    assert str(refused.value).endswith(".")
    assert "\n" not in str(refused.value)


def facts(conn_type: str) -> ConnectionFacts:
    return ConnectionFacts("bureau", conn_type, password="s3cr3t-value")


@pytest.mark.parametrize(
    ("request_", "conn_type", "words"),
    [
        (SourceRequest("bureau", table="energy"), "mysql", "of type 'mysql'; a source is read"),
        (SourceRequest("bureau", object="b/x.csv"), "http", "'aws' connection (an S3 object)"),
        (
            SourceRequest("bureau", object="b/x.csv"),
            "postgres",
            "reaches a table or query, not a object",
        ),
        (SourceRequest("bureau", query="select 1"), "aws", "reaches an object, not a query"),
    ],
)
def test_a_source_is_read_only_through_an_aws_or_postgres_connection(
    request_: SourceRequest, conn_type: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        open_source(request_, facts(conn_type))
    assert words in str(refused.value)
    assert "s3cr3t" not in str(refused.value)


def test_connection_facts_come_from_an_airflow_connection_without_showing_the_secret() -> None:
    airflow_connection = SimpleNamespace(
        conn_id="js_bureau_s3", conn_type="aws", host="", port=None,
        login="participant-a:connector", password="s3cr3t-value", schema=None,
        extra_dejson={"endpoint_url": "http://127.0.0.1:9000", "region_name": "us-east-1"},
    )  # fmt: skip
    found = ConnectionFacts.from_airflow(airflow_connection)
    assert found == ConnectionFacts(
        "js_bureau_s3", "aws", login="participant-a:connector", password="s3cr3t-value",
        extra={"endpoint_url": "http://127.0.0.1:9000", "region_name": "us-east-1"},
    )  # fmt: skip
    assert "s3cr3t" not in repr(found)
    postgres = SimpleNamespace(
        conn_id="pg", conn_type="postgres", host="db", port="5433", login="u", password=None,
        schema="bureau", extra_dejson={},
    )  # fmt: skip
    assert ConnectionFacts.from_airflow(postgres).port == 5433


def test_the_source_columns_of_the_energy_product_are_the_authority_extract() -> None:
    rules = load_rules(SCHEMAS / "desensitization" / "public_energy_emissions.json")
    product = arrow_schema(load_avro_schema(SCHEMAS / "products" / "public_energy_emissions.avsc"))
    found = input_schema(rules, product)
    assert dict(zip(found.names, found.types, strict=True)) == dict(
        zip(SOURCE_SCHEMA.names, SOURCE_SCHEMA.types, strict=True)
    )
    assert len(found) == len(SOURCE_SCHEMA)
    assert not any(field.nullable for field in found)
    assert found.field("reading_time").type == pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize(
    ("request_", "connection", "words"),
    [
        (
            SourceRequest("bureau", object="b/x.csv"),
            ConnectionFacts("bureau", "aws", login="key", password="s3cr3t-value"),
            "needs a login (access key), a password (secret key) and endpoint_url in its extra",
        ),
        (
            SourceRequest("bureau", object="b/x.csv"),
            ConnectionFacts("bureau", "aws", password="s3cr3t-value", extra={"endpoint_url": "x"}),
            "needs a login (access key)",
        ),
        (
            SourceRequest("bureau", object="b/x.csv"),
            ConnectionFacts(
                "bureau",
                "aws",
                login="key",
                password="s3cr3t-value",
                extra={"endpoint_url": "ftp://store:9000"},
            ),
            "The connection bureau: The S3 endpoint 'ftp://store:9000' is not an http(s) URL",
        ),
        (
            SourceRequest("bureau", table="energy"),
            ConnectionFacts("bureau", "postgres", login="u", password="s3cr3t-value"),
            "needs a host and a schema (the database's name",
        ),
    ],
)
def test_a_connection_without_what_its_type_needs_is_refused_before_any_request(
    request_: SourceRequest, connection: ConnectionFacts, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        next(iter(open_source(request_, connection).batches(SOURCE_SCHEMA)))
    assert words in str(refused.value)
    assert "s3cr3t" not in str(refused.value)
