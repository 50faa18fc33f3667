"""S3 round trips against the real object store of the test stack."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from minio import Minio
from minio.error import S3Error

from dataspace.adapters.s3 import arrow_filesystem, ensure_bucket, minio_client
from dataspace.config import EMBEDDED_S3_USER, Settings
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


@pytest.fixture
def bucket(stack_settings: Settings, unique: str) -> str:
    name = f"test-{unique}"
    ensure_bucket(minio_client(stack_settings.s3()), name)
    return name


def test_minio_round_trip_small_and_multipart(stack_settings: Settings, bucket: str) -> None:
    client = minio_client(stack_settings.s3())
    small = b"hello data space"
    client.put_object(bucket, "small.txt", io.BytesIO(small), len(small))
    large = os.urandom(12 * MIB)
    # 5 MiB parts force a three-part multipart upload.
    client.put_object(bucket, "large.bin", io.BytesIO(large), -1, part_size=5 * MIB)

    assert client.get_object(bucket, "small.txt").read() == small
    stat = client.stat_object(bucket, "large.bin")
    assert stat.size == len(large)
    assert stat.etag.endswith("-3"), "a multipart object's ETag names its part count"
    downloaded = client.get_object(bucket, "large.bin").read()
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(large).digest()


def test_parquet_round_trip_through_pyarrow(stack_settings: Settings, bucket: str) -> None:
    table = pa.table({"supplier_id": ["s-01", "s-02"] * 500, "qty": list(range(1000))})
    fs = arrow_filesystem(stack_settings.s3())
    pq.write_table(table, f"{bucket}/orders/1/part-0.parquet", filesystem=fs)

    read_back = pq.read_table(f"{bucket}/orders/1/part-0.parquet", filesystem=fs)
    assert read_back.equals(table)


def test_presigned_url_downloads_and_tampering_is_refused(
    stack_settings: Settings, bucket: str
) -> None:
    client = minio_client(stack_settings.s3())
    body = b"granted bytes"
    client.put_object(bucket, "granted.txt", io.BytesIO(body), len(body))
    url = client.presigned_get_object(bucket, "granted.txt", expires=timedelta(minutes=2))

    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == body

    # The signature covers the key: the same URL cannot be bent to another object.
    client.put_object(bucket, "other.txt", io.BytesIO(b"secret"), 6)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url.replace("granted.txt", "other.txt"), timeout=10)
    assert refused.value.code == 403
    refused.value.close()


def test_wrong_credentials_are_rejected(stack_settings: Settings, bucket: str) -> None:
    endpoint = stack_settings.s3()
    kwargs = {**endpoint.minio_kwargs(), "secret_key": "not-the-secret"}
    with pytest.raises(S3Error) as rejected:
        next(iter(Minio(**kwargs).list_objects(bucket)))
    assert rejected.value.code in ("SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId")

    wrong_user = {**endpoint.minio_kwargs(), "access_key": "dataspace:intruder"}
    with pytest.raises(S3Error):
        Minio(**wrong_user).put_object(bucket, "x", io.BytesIO(b"x"), 1)


def segment_files(settings: Settings) -> int:
    """Object files of at least 1 MiB on the embedded store's disk (multipart segments)."""
    objects = settings.state_dir / "swift" / "data" / "d1" / "objects"
    return sum(1 for path in objects.rglob("*.data") if path.stat().st_size >= MIB)


def test_deleted_multipart_segments_are_reclaimed(stack_settings: Settings, bucket: str) -> None:
    if not stack_settings.s3_embedded:
        pytest.skip("reads the embedded store's disk; an external S3 reclaims on its own")
    client = minio_client(stack_settings.s3())
    before = segment_files(stack_settings)
    client.put_object(bucket, "mpu.bin", io.BytesIO(os.urandom(11 * MIB)), -1, part_size=5 * MIB)
    assert segment_files(stack_settings) == before + 3

    client.remove_object(bucket, "mpu.bin")
    # Swift queues the segments for its object expirer; the stack runs it, so they go.
    wait_for(lambda: segment_files(stack_settings) == before, timeout=60)


def account_server_heads(settings: Settings) -> int:
    """HEADs of the S3 user's account at the account server. The object expirer asks about
    its own account (.expiring_objects) every few seconds, through its own proxy code: not
    counted."""
    account = f"/AUTH_{EMBEDDED_S3_USER.split(':')[0]}"
    log = settings.state_dir / "logs" / "swift-account-server.log"
    lines = log.read_text(errors="replace").splitlines()
    return sum(1 for line in lines if '"HEAD /d1/' in line and account in line)


def test_the_proxy_answers_bucket_facts_from_its_cache_and_forgets_a_deleted_bucket(
    stack_settings: Settings, bucket: str
) -> None:
    if not stack_settings.s3_embedded:
        pytest.skip("reads the embedded proxy's backend logs; an external S3 has its own cache")
    client = minio_client(stack_settings.s3())
    client.put_object(bucket, "a.txt", io.BytesIO(b"a"), 1)
    before = account_server_heads(stack_settings)
    for _ in range(20):
        assert client.get_object(bucket, "a.txt").read() == b"a"
    # Uncached, every request asks the account server about the account (20+ HEADs).
    assert account_server_heads(stack_settings) - before <= 2

    client.remove_object(bucket, "a.txt")
    client.remove_bucket(bucket)
    with pytest.raises(S3Error) as gone:
        client.put_object(bucket, "b.txt", io.BytesIO(b"b"), 1)
    assert gone.value.code == "NoSuchBucket"
    ensure_bucket(client, bucket)
    client.put_object(bucket, "b.txt", io.BytesIO(b"b"), 1)
    assert client.get_object(bucket, "b.txt").read() == b"b"
