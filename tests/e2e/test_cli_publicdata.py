"""`dataspace publicdata sample | upload | connect` as an authority runs them on the test stack.

The sample is uploaded with the authority's own S3 user, the connection stored on an Airflow
(the session's migrated metadata database, copied into the node's state directory) is read
back with `dataspace airflow connections get`, and the object staged through it is the sample.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from dataspace.adapters.s3 import minio_client
from dataspace.config import EMBEDDED_CREDENTIALS_FILE, Settings
from dataspace.publicdata.dataset import SOURCE_SCHEMA, monthly_readings
from dataspace.publicdata.sources import ConnectionFacts, SourceRequest, open_source, stage
from dataspace.stack.s3_users import ensure_s3_user, users_dir
from tests.fixtures.airflow import AirflowHome
from tests.helpers import DATASPACE

pytestmark = pytest.mark.e2e


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATASPACE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def node_env(settings: Settings, state: Path) -> dict[str, str]:
    """A node on the test stack's embedded store: its state directory, the stack's ports."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATASPACE_", "AIRFLOW"))}
    return clean | {
        "DATASPACE_STATE_DIR": str(state),
        "DATASPACE_S3_PORT": str(settings.s3_port),
        "DATASPACE_KAFKA_PORT": str(settings.kafka_port),
        "COLUMNS": "200",
    }


@pytest.fixture
def embedded(stack_settings: Settings) -> Settings:
    if not stack_settings.s3_embedded:
        pytest.skip("per-participant users are made on the embedded store; this one is external")
    return stack_settings


def test_sample_writes_the_demo_extract_as_csv_or_parquet(tmp_path: Path) -> None:
    env = node_env_without_stack(tmp_path)
    done = run(["publicdata", "sample", "--out", "energy.csv", "--enterprises", "5"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Wrote 60 rows (5 enterprises) of the demo extract to energy.csv.\n"
    read = pcsv.read_csv(tmp_path / "energy.csv", convert_options=pcsv.ConvertOptions(
        column_types=SOURCE_SCHEMA))  # fmt: skip
    assert read.cast(SOURCE_SCHEMA).equals(monthly_readings(5))
    assert stat.S_IMODE((tmp_path / "energy.csv").stat().st_mode) == 0o600
    done = run(["publicdata", "sample", "--out", "all.parquet", "--json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert pq.read_table(tmp_path / "all.parquet").equals(monthly_readings())
    assert printed["rows"] == monthly_readings().num_rows
    assert printed["format"] == "parquet"
    for args, sentence in [
        (["--out", "energy.xlsx"], "The sample's file energy.xlsx must end in .csv or .parquet."),
        (
            ["--out", "e.csv", "--enterprises", "100000"],
            "The demo extract holds 1 to 137 enterprises, not 100000.",
        ),
        (["--out", "absent/e.csv"], "The directory absent does not exist; create it first."),
    ]:
        done = run(["publicdata", "sample", *args], env, tmp_path)
        assert (done.returncode, done.stderr) == (2, f"Error: {sentence}\n")


def node_env_without_stack(state: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATASPACE_", "AIRFLOW"))}
    return clean | {"DATASPACE_STATE_DIR": str(state / "state")}


def test_upload_puts_the_extract_in_the_authoritys_own_bucket(
    embedded: Settings, unique: str, tmp_path: Path
) -> None:
    env = node_env(embedded, embedded.state_dir)  # the stack's node: its users are the store's
    bureau, bucket = f"bureau-{unique}", f"extracts-{unique}"
    assert run(["publicdata", "sample", "--out", "e.csv"], env, tmp_path).returncode == 0
    done = run(
        ["publicdata", "upload", "--as", bureau, "e.csv", f"{bucket}/2025/energy.csv", "--json"],
        env, tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["object"] == f"{bucket}/2025/energy.csv"
    assert printed["access_key"] == f"participant-{bureau}:connector"
    assert "secret" not in done.stdout
    own = minio_client(ensure_s3_user(embedded, bureau).s3)
    body = own.get_object(bucket, "2025/energy.csv").read()
    assert body == (tmp_path / "e.csv").read_bytes()
    assert printed["bytes"] == len(body)
    other = minio_client(ensure_s3_user(embedded, f"other-{unique}").s3)
    assert not other.bucket_exists(bucket)  # a bucket belongs to the key that made it
    for args, words in [
        (
            ["e.csv", f"{bucket}/energy.parquet"],
            "is .csv but the object energy.parquet is .parquet",
        ),
        (["absent.csv", f"{bucket}/a.csv"], "The file absent.csv does not exist"),
        (["e.csv", "energy.csv"], "is not bucket/path/file.parquet or bucket/path/file.csv"),
        (["e.csv", "Bad_Bucket!/e.csv"], "The bucket name 'Bad_Bucket!' is not valid"),
    ]:
        done = run(["publicdata", "upload", "--as", bureau, *args], env, tmp_path)
        assert done.returncode == 2, done.stderr
        assert words in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(600)
def test_connect_stores_the_authoritys_s3_user_as_an_airflow_connection(
    embedded: Settings, airflow_home: AirflowHome, unique: str, tmp_path: Path
) -> None:
    bureau, bucket = f"bureau-{unique}", f"extracts-{unique}"
    credentials = ensure_s3_user(embedded, bureau)
    state = tmp_path / "node"
    (state / "s3-users").mkdir(parents=True)
    # This node's record of the bureau's user is the stack's one (the store reads the stack's).
    shutil.copy2(users_dir(embedded) / f"{bureau}.json", state / "s3-users")
    shutil.copy2(embedded.state_dir / EMBEDDED_CREDENTIALS_FILE, state)
    env = node_env(embedded, state)
    refused = run(
        ["publicdata", "connect", "--as", bureau, "--connection", "js_bureau_s3"], env, tmp_path
    )
    assert refused.returncode == 2
    assert "There is no Airflow in" in refused.stderr
    (state / "airflow").mkdir()
    shutil.copy2(airflow_home.home / "airflow.db", state / "airflow" / "airflow.db")

    done = run(
        ["publicdata", "connect", "--as", bureau, "--connection", "js_bureau_s3"], env, tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "Added the Airflow connection js_bureau_s3 (aws, access key "
        f"participant-{bureau}:connector,"
    )
    secret = credentials.secret_key.get_secret_value()
    assert secret not in done.stdout + done.stderr
    again = run(
        ["publicdata", "connect", "--as", bureau, "--connection", "js_bureau_s3", "--json"],
        env,
        tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "connection": "js_bureau_s3", "action": "replaced", "conn_type": "aws",
        "login": credentials.access_key,
        "extra": {"endpoint_url": credentials.endpoint, "region_name": credentials.s3.region},
    }  # fmt: skip
    assert secret not in again.stdout
    assert not list(state.glob("tmp*"))  # the file the secret passed through is gone

    got = run(["airflow", "connections", "get", "js_bureau_s3", "-o", "json"], env, tmp_path)
    assert got.returncode == 0, got.stderr
    (stored,) = json.loads(got.stdout.splitlines()[-1])
    facts = ConnectionFacts.from_airflow(SimpleNamespace(**stored))
    assert (facts.conn_type, facts.login, facts.password) == ("aws", credentials.access_key, secret)
    # What the release will do with it: stage the bureau's object through the stored connection.
    assert run(["publicdata", "sample", "--out", "e.parquet"], env, tmp_path).returncode == 0
    upload = ["publicdata", "upload", "--as", bureau, "e.parquet", f"{bucket}/e.parquet"]
    assert run(upload, env, tmp_path).returncode == 0
    source = open_source(SourceRequest("js_bureau_s3", object=f"{bucket}/e.parquet"), facts)
    staged = stage(source, tmp_path / "staging" / "source.parquet", SOURCE_SCHEMA)
    assert pq.read_table(staged.path).equals(monthly_readings())

    bad = run(["publicdata", "connect", "--as", bureau, "--connection", "js bureau"], env, tmp_path)
    assert (bad.returncode, bad.stderr.count("\n")) == (2, 1)
    assert "The connection id 'js bureau' is not valid" in bad.stderr
