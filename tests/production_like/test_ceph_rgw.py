"""Ceph RGW as a province could run it: two S3 gateways of one zone in front of an
erasure-coded (k=2, m=1) data pool on three OSDs, which keeps taking writes with one OSD down.

Needs the production-like Ceph (`infra/production-like/stack up ceph`). The clients are the
product's: each gateway URL is parsed by `parse_s3_endpoint` and rendered for the `minio` SDK
and pyarrow. The module works in a bucket of its own and removes it afterwards; the OSD test
SIGKILLs one OSD through `ceph.sh kill-osd` and always starts it again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from minio import Minio
from pydantic import SecretStr

from dataspace.adapters.s3 import arrow_filesystem, minio_client, presigner
from dataspace.config import S3Endpoint, parse_s3_endpoint
from tests.helpers import wait_for
from tests.production_like.engines import engine_env

pytestmark = pytest.mark.production_like

CEPH_SH = Path(__file__).resolve().parents[2] / "infra" / "production-like" / "ceph.sh"
REGION = "us-east-1"  # Settings.s3_region's default; RGW accepts it for the default zone group
DATA_POOL = "default.rgw.buckets.data"
MIB = 1024 * 1024
# The env file's answer to pyarrow 26 part uploads getting HTTP 411 from RGW 16.
AWS_CHECKSUM_VARIABLES = ("AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION")


@dataclass(frozen=True)
class Cluster:
    conf: str
    bucket: str
    gateways: tuple[S3Endpoint, ...]

    def ceph(self, *args: str) -> str:
        done = subprocess.run(
            ["ceph", "-c", self.conf, "--connect-timeout", "10", *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout

    def ceph_json(self, *args: str) -> object:
        return json.loads(self.ceph(*args, "-f", "json"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Both gateways of the running cluster and a fresh bucket, emptied and removed afterwards."""
    env = engine_env("ceph")  # skips (or fails under DATASPACE_PRODUCTION_LIKE_REQUIRED) when down
    gateways = tuple(
        parse_s3_endpoint(
            url,
            access_key=env["PRODLIKE_CEPH_ACCESS_KEY"],
            secret_key=SecretStr(env["PRODLIKE_CEPH_SECRET_KEY"]),
            region=REGION,
        )
        for url in env["PRODLIKE_CEPH_ENDPOINTS"].split(",")
    )
    assert len(gateways) == 2, "the env file names two gateways"
    with pytest.MonkeyPatch.context() as patch:
        for name in AWS_CHECKSUM_VARIABLES:
            patch.setenv(name, env[name])
        made = Cluster(env["PRODLIKE_CEPH_CONF"], f"prodlike-ceph-{secrets.token_hex(4)}", gateways)
        client = minio_client(gateways[0])
        client.make_bucket(made.bucket)
        try:
            yield made
        finally:
            remove_bucket(client, made.bucket)


def remove_bucket(client: Minio, bucket: str) -> None:
    for item in client.list_objects(bucket, recursive=True):
        client.remove_object(bucket, str(item.object_name))
    client.remove_bucket(bucket)


def pool_stats(cluster: Cluster, pool: str) -> dict[str, int]:
    report = cluster.ceph_json("df", "detail")
    assert isinstance(report, dict)
    (stats,) = (p["stats"] for p in report["pools"] if p["name"] == pool)
    return stats


def settled_pool_stats(cluster: Cluster, pool: str, quiet: float = 11.0) -> dict[str, int]:
    """The pool's statistics once unchanged for ``quiet`` seconds: OSDs report to the manager
    every 5 s, so a deletion a moment ago may not be counted yet (a baseline that moves)."""
    last, since = pool_stats(cluster, pool), time.monotonic()

    def unchanged_long_enough() -> dict[str, int] | None:
        nonlocal last, since
        now = pool_stats(cluster, pool)
        if now["stored"] != last["stored"]:
            last, since = now, time.monotonic()
        return now if time.monotonic() - since >= quiet else None

    return wait_for(unchanged_long_enough, timeout=90, interval=1)


def rados_bytes_of_bucket(cluster: Cluster, bucket: str) -> int:
    """Bytes of the RADOS objects in the data pool that belong to ``bucket`` (its marker)."""
    rados = ["rados", "-c", cluster.conf, "-p", DATA_POOL]
    stats = json.loads(
        subprocess.run(
            ["radosgw-admin", "-c", cluster.conf, "bucket", "stats", f"--bucket={bucket}"],
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
    )
    names = subprocess.run([*rados, "ls"], check=True, capture_output=True, text=True, timeout=60)
    total = 0
    for name in names.stdout.split():
        if name.startswith(f"{stats['marker']}_"):
            stat = subprocess.run(
                [*rados, "stat", name], check=True, capture_output=True, text=True, timeout=60
            )
            total += int(stat.stdout.rsplit("size ", 1)[1])
    return total


def test_two_gateways_serve_one_store_on_the_erasure_coded_pool(cluster: Cluster) -> None:
    gateway_1, gateway_2 = (minio_client(g) for g in cluster.gateways)
    pools = cluster.ceph_json("osd", "pool", "ls", "detail")
    assert isinstance(pools, list)
    (pool,) = (p for p in pools if p["pool_name"] == DATA_POOL)
    assert pool["erasure_code_profile"], f"{DATA_POOL} is not erasure-coded"
    erasure = cluster.ceph_json("osd", "erasure-code-profile", "get", pool["erasure_code_profile"])
    assert isinstance(erasure, dict)
    assert (erasure["k"], erasure["m"], erasure["crush-failure-domain"]) == ("2", "1", "osd")
    before = settled_pool_stats(cluster, DATA_POOL)

    body = os.urandom(16 * MIB)
    gateway_1.put_object(cluster.bucket, "two-gateways.bin", io.BytesIO(body), len(body))
    response = gateway_2.get_object(cluster.bucket, "two-gateways.bin")
    try:
        assert response.read() == body
    finally:
        response.close()
        response.release_conn()

    assert rados_bytes_of_bucket(cluster, cluster.bucket) == len(body)
    after = wait_for(
        lambda: (
            (s := pool_stats(cluster, DATA_POOL))["stored"] - before["stored"] >= len(body) and s
        ),
        timeout=60,
        interval=1,
    )
    # k=2, m=1: every 2 bytes stored take 3 on disk (a replicated pool of size 3 would take 6).
    raw_per_stored = (after["bytes_used"] - before["bytes_used"]) / (
        after["stored"] - before["stored"]
    )
    assert 1.3 < raw_per_stored < 2.0, f"raw/stored = {raw_per_stored:.2f}, expected ~1.5"


class HashingSink:
    """A file object for Parquet's writer: hashes what it forwards to an S3 output stream."""

    def __init__(self, stream: pa.NativeFile) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.closed = False

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.stream.write(data)

    def tell(self) -> int:
        return self.stream.tell()

    def flush(self) -> None:
        """Nothing to do: the S3 stream uploads a part whenever it holds enough."""

    def close(self) -> None:
        self.stream.close()  # completes the multipart upload
        self.closed = True


def random_batch(rows: int, row_size: int) -> pa.RecordBatch:
    payload = pa.array([os.urandom(row_size) for _ in range(rows)], pa.binary())
    return pa.record_batch({"id": pa.array(range(rows), pa.int64()), "payload": payload})


def osd_named_down(cluster: Cluster, osd: int) -> bool:
    detail = cluster.ceph("health", "detail")
    return re.search(rf"osd\.{osd} \(.*\) is down", detail) is not None


def test_upload_completes_while_an_osd_is_killed(cluster: Cluster) -> None:
    victim = 1
    killed_at = 0.0
    batches, rows, row_size = 16, 128, 64 * 1024  # 16 row groups of 8 MiB: 128 MiB in all
    fs = arrow_filesystem(cluster.gateways[0])
    key = f"{cluster.bucket}/osd-killed.parquet"
    schema = random_batch(1, 1).schema
    sink = HashingSink(fs.open_output_stream(key))
    try:
        with pq.ParquetWriter(sink, schema, compression="none") as writer:
            for index in range(batches):
                writer.write_batch(random_batch(rows, row_size), row_group_size=rows)
                if index == 3:  # ~32 MiB sent: several parts are already stored
                    run_ceph_sh("kill-osd", str(victim))
                    killed_at = time.monotonic()
        sink.close()
        upload_after_kill = time.monotonic() - killed_at
        wait_for(lambda: osd_named_down(cluster, victim), timeout=60, interval=1)

        read_back = arrow_filesystem(cluster.gateways[1]).open_input_file(key).readall()
        assert len(read_back) > 100 * MIB
        assert hashlib.sha256(read_back).hexdigest() == sink.sha256.hexdigest()
        assert pq.read_metadata(io.BytesIO(read_back)).num_row_groups == batches
        # Every PG of a k+m=3 pool on 3 OSDs has a chunk on the victim, so every later part was
        # written degraded. With min_size 3 those parts hang and the SDK gives up after ~3 min.
        assert upload_after_kill < 120, f"the upload took {upload_after_kill:.0f} s after the kill"
    finally:
        run_ceph_sh("start-osd", str(victim))


def run_ceph_sh(*args: str) -> None:
    subprocess.run([str(CEPH_SH), *args], check=True, capture_output=True, timeout=180)


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_presigned_get_works_and_a_bad_signature_is_refused(cluster: Cluster) -> None:
    body = b"one object a subscriber was granted"
    gateway = cluster.gateways[1]
    minio_client(gateway).put_object(cluster.bucket, "granted.txt", io.BytesIO(body), len(body))
    url = presigner(gateway, cluster.bucket)("granted.txt", timedelta(minutes=5))

    assert fetch(url) == (200, body)

    signature = re.search(r"X-Amz-Signature=([0-9a-f]+)", url)
    assert signature is not None
    forged = signature.group(1)[:-1] + ("0" if signature.group(1)[-1] != "0" else "1")
    status, refusal = fetch(url.replace(signature.group(1), forged))
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in refusal
