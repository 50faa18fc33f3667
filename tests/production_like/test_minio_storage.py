"""MinIO as a province runs it: one credential per provider, confined to its own bucket, and
presigned grants that the engine itself bounds in time.

Needs the production-like MinIO (`infra/production-like/stack up minio`). The module provisions
two providers with unique names through `minio.sh add-provider` (the operator's own tool) and
removes them, buckets included, afterwards. The clients are the product's: the endpoint is
parsed by `parse_s3_endpoint` and rendered for the `minio` SDK and pyarrow.
"""

from __future__ import annotations

import io
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.config import Config
from minio.error import S3Error
from pydantic import SecretStr

from dataspace.adapters.s3 import arrow_filesystem, minio_client, presigner
from dataspace.config import S3Endpoint, parse_s3_endpoint
from dataspace.errors import InvalidInput
from tests.helpers import wait_for
from tests.production_like.engines import engine_env, engine_script, read_env_file

pytestmark = pytest.mark.production_like

REGION = "us-east-1"  # Settings.s3_region's default; the server's MINIO_SITE_REGION
SEVEN_DAYS = 604_800  # seconds: the SigV4 limit on X-Amz-Expires
MIB = 1024 * 1024
GRANTED_KEY = "grants/granted.txt"
GRANTED_BODY = b"one object a subscriber was granted"


@dataclass(frozen=True)
class Provider:
    name: str
    bucket: str
    endpoint: S3Endpoint


def provision(participant: str) -> Provider:
    env_file = engine_script("minio", "add-provider", participant, timeout=60)
    env = read_env_file(Path(env_file.splitlines()[-1]))
    endpoint = parse_s3_endpoint(
        env["PRODLIKE_S3_ENDPOINT"],
        access_key=env["PRODLIKE_S3_ACCESS_KEY"],
        secret_key=SecretStr(env["PRODLIKE_S3_SECRET_KEY"]),
        region=REGION,
    )
    return Provider(participant, env["PRODLIKE_S3_BUCKET"], endpoint)


@pytest.fixture(scope="module")
def providers() -> Iterator[tuple[Provider, Provider]]:
    """Two freshly provisioned providers, A and B, each holding one object in its bucket."""
    engine_env("minio")  # skips (or fails under DATASPACE_PRODUCTION_LIKE_REQUIRED) when down
    tag = secrets.token_hex(4)
    made: list[Provider] = []
    try:
        for side in ("a", "b"):
            made.append(provision(f"t{tag}{side}"))
        for provider in made:
            minio_client(provider.endpoint).put_object(
                provider.bucket, GRANTED_KEY, io.BytesIO(GRANTED_BODY), len(GRANTED_BODY)
            )
        yield made[0], made[1]
    finally:
        remove_stray_buckets(f"dataspace-t{tag}", keep={p.bucket for p in made})
        for provider in made:
            engine_script("minio", "remove-provider", provider.name, "--purge-bucket", timeout=60)


def remove_stray_buckets(prefix: str, keep: set[str]) -> None:
    """Remove buckets a test created only because a policy let it (see the create test)."""
    engine = engine_env("minio")
    root = parse_s3_endpoint(
        engine["PRODLIKE_MINIO_ENDPOINT"],
        access_key=engine["PRODLIKE_MINIO_ROOT_USER"],
        secret_key=SecretStr(engine["PRODLIKE_MINIO_ROOT_PASSWORD"]),
        region=REGION,
    )
    client = minio_client(root)
    for bucket in client.list_buckets():
        if bucket.name.startswith(prefix) and bucket.name not in keep:
            client.remove_bucket(bucket.name)


def s3_error_code(action: Callable[[], object]) -> str:
    with pytest.raises(S3Error) as refused:
        action()
    return str(refused.value.code)


def fetch(url: str) -> tuple[int, str, bytes]:
    """GET ``url`` as a subscriber would: (HTTP status, S3 error code or "", body)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, "", response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
        code = re.search(rb"<Code>([^<]+)</Code>", body)
        return error.code, code.group(1).decode() if code else "", body


def sigv4_presigned_get(provider: Provider, key: str, expires_in: int) -> str:
    """A presigned GET built without the product's lifetime check, to probe the engine's own."""
    client = boto3.client(
        "s3", config=Config(signature_version="s3v4"), **provider.endpoint.boto3_kwargs()
    )
    return str(
        client.generate_presigned_url(
            "get_object", Params={"Bucket": provider.bucket, "Key": key}, ExpiresIn=expires_in
        )
    )


# --- 1. one credential per provider, confined to its bucket ---------------------------------


def test_provider_reads_writes_and_lists_its_own_bucket(
    providers: tuple[Provider, Provider],
) -> None:
    a, _ = providers
    client = minio_client(a.endpoint)
    client.put_object(a.bucket, "own/small.txt", io.BytesIO(b"mine"), 4)
    assert client.get_object(a.bucket, "own/small.txt").read() == b"mine"
    listed = {item.object_name for item in client.list_objects(a.bucket, prefix="own/")}
    assert listed == {"own/small.txt"}


def test_provider_uploads_multipart_into_its_own_bucket(
    providers: tuple[Provider, Provider],
) -> None:
    a, _ = providers
    client = minio_client(a.endpoint)
    data = secrets.token_bytes(11 * MIB)
    written = client.put_object(
        a.bucket, "own/multipart.bin", io.BytesIO(data), -1, part_size=5 * MIB
    )
    assert str(written.etag).endswith("-3"), "three parts were uploaded"
    assert client.get_object(a.bucket, "own/multipart.bin").read() == data


def test_provider_writes_and_reads_parquet_through_pyarrow(
    providers: tuple[Provider, Provider], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ceph RGW needs these (DESIGN.md §5); MinIO must not: prove it without them.
    monkeypatch.delenv("AWS_REQUEST_CHECKSUM_CALCULATION", raising=False)
    monkeypatch.delenv("AWS_RESPONSE_CHECKSUM_VALIDATION", raising=False)
    a, _ = providers
    rows = 1_500_000  # ~22 MB of Parquet: pyarrow uploads it in several parts
    table = pa.table({"value": np.random.default_rng(19).random(rows), "row": np.arange(rows)})
    path = f"{a.bucket}/own/table.parquet"
    pq.write_table(table, path, filesystem=arrow_filesystem(a.endpoint))
    assert pq.read_table(path, filesystem=arrow_filesystem(a.endpoint)).equals(table)
    etag = str(minio_client(a.endpoint).stat_object(a.bucket, "own/table.parquet").etag)
    assert re.search(r"-\d+$", etag), "pyarrow used a multipart upload"


def test_provider_cannot_read_another_providers_object(
    providers: tuple[Provider, Provider],
) -> None:
    a, b = providers
    client = minio_client(a.endpoint)
    assert s3_error_code(lambda: client.get_object(b.bucket, GRANTED_KEY).read()) == "AccessDenied"


def test_provider_cannot_write_into_another_providers_bucket(
    providers: tuple[Provider, Provider],
) -> None:
    a, b = providers
    client = minio_client(a.endpoint)
    put = lambda: client.put_object(b.bucket, "intruder.txt", io.BytesIO(b"x"), 1)  # noqa: E731
    assert s3_error_code(put) == "AccessDenied"
    names = {item.object_name for item in minio_client(b.endpoint).list_objects(b.bucket)}
    assert "intruder.txt" not in names


def test_provider_cannot_list_another_providers_bucket(
    providers: tuple[Provider, Provider],
) -> None:
    a, b = providers
    client = minio_client(a.endpoint)
    assert s3_error_code(lambda: list(client.list_objects(b.bucket))) == "AccessDenied"


def test_provider_cannot_create_buckets(providers: tuple[Provider, Provider]) -> None:
    a, _ = providers
    client = minio_client(a.endpoint)
    assert s3_error_code(lambda: client.make_bucket(f"{a.bucket}-extra")) == "AccessDenied"


# --- 2. presigned grants, bounded in time by the engine -------------------------------------


def test_presigned_get_at_the_seven_day_limit_is_served(
    providers: tuple[Provider, Provider],
) -> None:
    a, _ = providers
    url = presigner(a.endpoint, a.bucket)(GRANTED_KEY, timedelta(seconds=SEVEN_DAYS))
    assert "X-Amz-Expires=604800" in url
    assert fetch(url) == (200, "", GRANTED_BODY)


def test_minio_refuses_a_presigned_get_beyond_seven_days(
    providers: tuple[Provider, Provider],
) -> None:
    a, _ = providers
    # The same signer one second shorter is served: the refusal is the lifetime, nothing else.
    assert fetch(sigv4_presigned_get(a, GRANTED_KEY, SEVEN_DAYS))[0] == 200
    status, code, _ = fetch(sigv4_presigned_get(a, GRANTED_KEY, SEVEN_DAYS + 1))
    assert (status, code) == (400, "AuthorizationQueryParametersError")


def test_product_presigner_refuses_lifetimes_beyond_seven_days(
    providers: tuple[Provider, Provider],
) -> None:
    a, _ = providers
    presign = presigner(a.endpoint, a.bucket)
    with pytest.raises(InvalidInput, match="7 days"):
        presign(GRANTED_KEY, timedelta(seconds=SEVEN_DAYS + 1))


def test_expired_presigned_get_is_refused(providers: tuple[Provider, Provider]) -> None:
    a, _ = providers
    url = presigner(a.endpoint, a.bucket)(GRANTED_KEY, timedelta(seconds=1))
    status, code, body = wait_for(lambda: (r := fetch(url))[0] != 200 and r, timeout=10)
    assert (status, code) == (403, "AccessDenied")
    assert b"Request has expired" in body


def test_presigned_get_with_a_tampered_signature_is_refused(
    providers: tuple[Provider, Provider],
) -> None:
    a, _ = providers
    url = presigner(a.endpoint, a.bucket)(GRANTED_KEY, timedelta(hours=1))
    assert fetch(url)[0] == 200
    signature = re.search(r"X-Amz-Signature=([0-9a-f]{64})", url)
    assert signature, url
    first = signature.group(1)[0]
    tampered = url.replace(
        signature.group(1), ("1" if first == "0" else "0") + signature.group(1)[1:]
    )
    status, code, _ = fetch(tampered)
    assert (status, code) == (403, "SignatureDoesNotMatch")
