"""The public_data_authorized_release DAG, run by Airflow (``dag.test()``, and ``airflow dags
test`` in a child process where the test kills it) on the real stack: the authority's own file
in its own bucket and its own PostgreSQL table are released desensitized, k-anonymous, to
licensed operators only, as the desensitization report says; a rejected application, a
k-anonymity violation and an unknown parameter release nothing; no raw extract outlives a run,
however it ends."""

from __future__ import annotations

import collections
import io
import json
import os
import signal
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from dataspace.agent.subscriber import announcements_topic
from dataspace.config import S3Endpoint, Settings
from dataspace.controlplane import applications, ledger
from dataspace.dataplane.objects import ObjectStore
from dataspace.desensitize.transform import pseudonym
from dataspace.operations.stores import release_store
from dataspace.publicdata.dataset import SOURCE_SCHEMA, enterprises, monthly_readings
from dataspace.publicdata.staging import staging_root
from dataspace.stack.components import venv_script
from tests.fixtures.airflow import AirflowHome, AirflowNode
from tests.fixtures.databases import POSTGRES_URL_ENV
from tests.helpers import wait_for
from tests.worlds.public_data_world import (
    OPERATORS,
    S3_CONNECTION,
    PublicWorld,
    authority_s3,
    make_public_world,
    s3_connection,
    upload_extract,
)
from tests.worlds.publish_world import consume, list_keys

pytestmark = pytest.mark.e2e

DAG_ID = "public_data_authorized_release"
LICENSED, REJECTED, PENDING = OPERATORS
DB_CONNECTION = "js_bureau_db"
# The authority's own extract: the year 2024, which the shipped demo dataset (2025) never
# holds, so what is released can only have come from the file or table given.
YEAR = 2024


@pytest.fixture
def world(airflow_node: AirflowNode, unique: str) -> PublicWorld:
    return make_public_world(airflow_node, unique)


@pytest.fixture
def authority_store(stack_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    """The authority's own S3 user, and the Airflow connection to it (``js_bureau_s3``)."""
    endpoint = authority_s3(stack_settings)
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONNECTION.upper()}", s3_connection(endpoint))
    return endpoint


@pytest.fixture
def s3_source(authority_store: S3Endpoint, unique: str) -> dict[str, str]:
    """The authority's 2024 extract as a CSV object in its bucket, as the run's source."""
    located = upload_extract(authority_store, monthly_readings(year=YEAR), f"{unique}/energy.csv")
    return {"connection": S3_CONNECTION, "object": located}


def run(airflow_home: AirflowHome, application: str, **conf: object) -> str:
    dag = airflow_home.dag(DAG_ID)
    return str(dag.test(run_conf={"application": application, **conf}).state)


def stored_keys(world: PublicWorld) -> list[str]:
    return list_keys(release_store(world.node.settings), world.product)


def staged_files(world: PublicWorld) -> list[Path]:
    return sorted(p for p in staging_root(world.node.settings.state_dir).rglob("*") if p.is_file())


def test_the_authoritys_file_is_released_to_licensed_operators_as_its_report_says(
    airflow_home: AirflowHome, world: PublicWorld, s3_source: dict[str, str], unique: str,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    licensed = world.apply(LICENSED, "park-carbon-accounting")
    world.approve(licensed)
    world.reject(world.apply(REJECTED, "credit-scoring", purpose="credit-scoring"))
    world.apply(PENDING, "site-selection", purpose="site-selection")

    assert run(airflow_home, licensed, source=s3_source) == "success"

    (release,) = world.releases()
    assert (release.version, release.status) == (1, "accepted")
    agreement = applications.show(world.db, licensed).agreement_id
    assert [(d.agreement_id, d.subscriber_id) for d in world.deliveries()] == [
        (agreement, LICENSED)
    ]
    store = release_store(world.node.settings)
    table = _read(store, release.object_key, release.sha256)
    report = json.loads(_bytes(store, f"{world.product}/1/desensitization-report.json"))
    _assert_desensitized(world, table, YEAR)
    _assert_report_matches(report, table, monthly_readings(year=YEAR))
    bucket, _, key = s3_source["object"].partition("/")
    assert bucket in json.dumps(report["source"])
    assert key in json.dumps(report["source"])
    assert report["application_id"] == licensed
    actions = world.actions()
    for step in ("authorized", "ingested", "desensitized"):
        assert f"public_release.{step}" in actions
    assert "public_release.stopped" not in actions
    assert actions.index("public_release.desensitized") < actions.index("release.published")
    assert ledger.verify(world.db).ok
    assert staged_files(world) == []  # the raw extract and the desensitized file are gone
    events = consume(
        world.node.settings, announcements_topic(LICENSED), world.public_key_of,
        lambda e: e.body["product_id"] == world.product, group=f"pub-{unique}", count=1,
    )  # fmt: skip
    assert [key for key, _ in events] == [LICENSED]
    logged = "".join(capfd.readouterr())
    assert "public_release" in logged or "desensitiz" in logged  # the run's logs were captured
    assert world.node.keys.pseudonym_key(world.product).hex() not in logged


@pytest.fixture
def authority_table(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The authority's 2024 extract as a table in a PostgreSQL database, and the connection."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"set {POSTGRES_URL_ENV} to run the database source (CI sets it)")
    engine = sa.create_engine(url)
    name = f"energy_{uuid.uuid4().hex[:8]}"
    extract = monthly_readings(year=YEAR)
    columns = [sa.Column(f.name, _sql_type(f.type), nullable=False) for f in SOURCE_SCHEMA]
    table = sa.Table(name, sa.MetaData(), *columns)
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), extract.to_pylist())
    parsed = sa.engine.make_url(url)
    monkeypatch.setenv(f"AIRFLOW_CONN_{DB_CONNECTION.upper()}", json.dumps({
        "conn_type": "postgres", "host": parsed.host, "port": parsed.port or 5432,
        "login": parsed.username, "password": parsed.password or "", "schema": parsed.database,
    }))  # fmt: skip
    yield name
    table.drop(engine)
    engine.dispose()


def _sql_type(arrow_type: pa.DataType) -> Any:
    if pa.types.is_timestamp(arrow_type):
        return sa.DateTime(timezone=True)
    if pa.types.is_integer(arrow_type):
        return sa.BigInteger()
    return sa.Float() if pa.types.is_floating(arrow_type) else sa.Text()


def test_the_authoritys_postgresql_table_is_released_through_its_connection(
    airflow_home: AirflowHome, world: PublicWorld, authority_table: str
) -> None:
    licensed = world.apply(LICENSED, "park-carbon-accounting")
    world.approve(licensed)

    source = {"connection": DB_CONNECTION, "table": authority_table}
    assert run(airflow_home, licensed, source=source) == "success"

    (release,) = world.releases()
    store = release_store(world.node.settings)
    table = _read(store, release.object_key, release.sha256)
    report = json.loads(_bytes(store, f"{world.product}/1/desensitization-report.json"))
    _assert_desensitized(world, table, YEAR)
    _assert_report_matches(report, table, monthly_readings(year=YEAR))
    assert report["source"]["kind"] == "postgresql-table"
    assert authority_table in json.dumps(report["source"])
    assert staged_files(world) == []


def _read(store: ObjectStore, key: str, sha256: str) -> pa.Table:
    import hashlib  # noqa: PLC0415

    data = _bytes(store, key)
    assert hashlib.sha256(data).hexdigest() == sha256
    return pq.read_table(io.BytesIO(data))


def _bytes(store: ObjectStore, key: str) -> bytes:
    with store.open_input(key) as source:
        return bytes(source.read())


def _assert_report_matches(report: dict[str, Any], released: pa.Table, given: pa.Table) -> None:
    """The report says what the released table shows, and what the input was."""
    assert report["rows"] == {"input": given.num_rows, "output": released.num_rows}
    assert report["source"]["rows"] == given.num_rows
    treatments = {c["column"]: c["treatment"] for c in report["columns"]}
    assert treatments == {
        "credit_code": "pseudonymized", "enterprise_name": "dropped",
        "legal_representative": "dropped", "contact_phone": "dropped",
        "address": "generalized", "industry": "kept", "reading_time": "generalized",
        "electricity_kwh": "kept", "so2_kg": "kept", "nox_kg": "kept", "co2_t": "kept",
    }  # fmt: skip
    for column, treatment in treatments.items():
        assert (column in released.column_names) == (treatment == "kept")
    k = report["k_anonymity"]
    groups = collections.defaultdict(set)
    for row in released.select(["city", "district", "industry", "enterprise_ref"]).to_pylist():
        groups[(row["city"], row["district"], row["industry"])].add(row["enterprise_ref"])
    assert k["smallest_class"] == min(len(members) for members in groups.values()) >= k["k"]
    assert k["quasi_identifiers"] == ["city", "district", "industry"]
    assert k["groups"] - k["suppressed_groups"] == len(groups)
    assert k["suppressed_rows"] == given.num_rows - released.num_rows > 0


def _assert_desensitized(world: PublicWorld, table: pa.Table, year: int) -> None:
    assert table.column_names == [
        "enterprise_ref", "city", "district", "period", "industry",
        "electricity_kwh", "so2_kg", "nox_kg", "co2_t",
    ]  # fmt: skip
    key = world.node.keys.pseudonym_key(world.product)
    everyone = enterprises()
    refs = {pseudonym(key, e.credit_code): e for e in everyone}
    released = set(table.column("enterprise_ref").to_pylist())
    assert released <= set(refs)
    assert len(released) < len(everyone)  # the lone enterprises were suppressed
    groups = collections.defaultdict(set)
    for row in table.select(["city", "district", "industry", "enterprise_ref"]).to_pylist():
        groups[(row["city"], row["district"], row["industry"])].add(row["enterprise_ref"])
    assert min(len(members) for members in groups.values()) >= 5
    assert set(table.column("period").to_pylist()) == {f"{year}-{m:02d}" for m in range(1, 13)}
    text = str(table.to_pylist())
    for enterprise in everyone[:20]:
        assert enterprise.credit_code not in text
        assert enterprise.name not in text
        assert enterprise.phone not in text


def test_a_rejected_application_releases_nothing(
    airflow_home: AirflowHome, world: PublicWorld, s3_source: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    rejected = world.apply(REJECTED, "credit-scoring", purpose="credit-scoring")
    world.reject(rejected)

    assert run(airflow_home, rejected, source=s3_source) == "failed"

    assert world.releases() == []
    assert world.deliveries() == []
    assert stored_keys(world) == []
    actions = world.actions()
    assert "public_release.stopped" in actions
    assert "public_release.ingested" not in actions
    assert f"{rejected} is rejected, so nothing is released" in "".join(capfd.readouterr())


def test_a_k_anonymity_violation_stops_the_release_and_leaves_nothing_staged(
    airflow_home: AirflowHome, world: PublicWorld, authority_store: S3Endpoint, unique: str,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    licensed = world.apply(LICENSED, "park-carbon-accounting")
    world.approve(licensed)
    # Thirty enterprises spread over twenty-odd districts and industries: no group reaches k.
    small = upload_extract(authority_store, monthly_readings(30), f"{unique}/small.parquet")

    source = {"connection": S3_CONNECTION, "object": small}
    assert run(airflow_home, licensed, source=source) == "failed"

    assert world.releases() == []
    assert world.deliveries() == []
    assert stored_keys(world) == []
    actions = world.actions()
    assert actions[-2:] == ["public_release.ingested", "public_release.stopped"]
    assert staged_files(world) == []
    assert "k-anonymity with k=5 would suppress" in "".join(capfd.readouterr())


def test_an_unknown_parameter_is_refused_not_ignored(
    airflow_home: AirflowHome, world: PublicWorld, s3_source: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    licensed = world.apply(LICENSED, "park-carbon-accounting")
    world.approve(licensed)

    assert run(airflow_home, licensed, source=s3_source, enterprises=30) == "failed"
    assert run(airflow_home, licensed) == "failed"  # and no source at all

    assert world.releases() == []
    assert "public_release.ingested" not in world.actions()
    logged = "".join(capfd.readouterr())
    assert "unknown keys enterprises" in logged
    assert "The run names no source" in logged


def _dags_test(airflow_home: AirflowHome, application: str, source: dict[str, str],
               extra: dict[str, str]) -> subprocess.Popen[bytes]:  # fmt: skip
    """``airflow dags test`` of the DAG in a child process of its own group, with this test's
    node (os.environ) and the session's Airflow home."""
    conf = json.dumps({"application": application, "source": source})
    airflow = {k: v for k, v in airflow_home.env.items() if k.startswith("AIRFLOW")}
    return subprocess.Popen(
        [venv_script("airflow"), "dags", "test", DAG_ID, "--conf", conf],
        env={**os.environ, **airflow, **extra}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _held_raw_extract(world: PublicWorld, held: Path) -> Path:
    wait_for(held.exists, timeout=180)
    (raw,) = [p for p in staged_files(world) if p.name == "source.parquet"]
    assert stat.S_IMODE(raw.stat().st_mode) == 0o600
    assert stat.S_IMODE(raw.parent.stat().st_mode) == 0o700
    return raw


@pytest.mark.timeout(600)
def test_a_killed_run_leaves_no_raw_extract_behind(
    airflow_home: AirflowHome, world: PublicWorld, s3_source: dict[str, str], tmp_path: Path
) -> None:
    licensed = world.apply(LICENSED, "park-carbon-accounting")
    world.approve(licensed)
    hold = {"DATASPACE_FAULT_HOLD": "public_release.staged"}

    # Stopped as Airflow stops a task (SIGTERM): the task removes its raw extract at once.
    held = tmp_path / "held-term"
    child = _dags_test(airflow_home, licensed, s3_source,
                       {**hold, "DATASPACE_FAULT_HELD": str(held)})  # fmt: skip
    try:
        raw = _held_raw_extract(world, held)
        os.kill(child.pid, signal.SIGTERM)
        wait_for(lambda: not raw.exists(), timeout=30)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()

    # Killed outright (SIGKILL): nothing in the process can act; the next run removes it.
    held = tmp_path / "held-kill"
    child = _dags_test(airflow_home, licensed, s3_source,
                       {**hold, "DATASPACE_FAULT_HELD": str(held)})  # fmt: skip
    try:
        raw = _held_raw_extract(world, held)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert raw.exists()  # what a killed process leaves, 0600 in a 0700 directory

    assert run(airflow_home, licensed, source=s3_source) == "success"
    assert staged_files(world) == []
    assert not any(staging_root(world.node.settings.state_dir).glob("*/*"))
    assert [r.version for r in world.releases()] == [1]
