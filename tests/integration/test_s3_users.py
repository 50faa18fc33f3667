"""Each participant's own S3 user on the embedded store: its buckets are its alone.

On Swift's s3api a bucket name belongs to the account of the key that names it, so another
participant asking for ``a-releases`` reaches its own account, where there is no such bucket
(404 NoSuchBucket), never A's. Swift's own API, which names the account in the path, shows the
access check itself: B's token on A's account is refused with 403.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import SecretStr

from dataspace.config import S3Endpoint, Settings
from dataspace.errors import InvalidInput
from dataspace.stack import swift
from dataspace.stack.process import is_alive
from dataspace.stack.s3_users import S3Credentials, access_key_for, ensure_s3_user, users_dir
from dataspace.stack.stack import Stack
from tests.fixtures.stack import embedded_settings
from tests.helpers import DATASPACE

pytestmark = pytest.mark.integration

BUCKET = "a-releases"


@pytest.fixture
def embedded(stack_settings: Settings) -> Settings:
    if not stack_settings.s3_embedded:
        pytest.skip("per-participant users are made on the embedded store; this one is external")
    return stack_settings


def s3_client(endpoint: S3Endpoint) -> BaseClient:
    return boto3.client("s3", **endpoint.boto3_kwargs(), config=Config(retries={"max_attempts": 1}))


def refusal(call: Callable[[], object]) -> tuple[int, str]:
    """The HTTP status and S3 error code of a request that must fail."""
    with pytest.raises(ClientError) as refused:
        call()
    error = refused.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]


def swift_token(credentials: S3Credentials) -> tuple[str, str]:
    """A Swift token for the same user, and the storage URL of its account."""
    request = urllib.request.Request(
        f"{credentials.endpoint}/auth/v1.0",
        headers={
            "X-Auth-User": credentials.access_key,
            "X-Auth-Key": credentials.secret_key.get_secret_value(),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["X-Auth-Token"], response.headers["X-Storage-Url"]


def swift_status(url: str, token: str, method: str = "GET", body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, method=method, headers={"X-Auth-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def proxy_pid(settings: Settings) -> int:
    stack = Stack(settings)
    [proxy] = [c for c in swift.service(settings).components if c.name == "swift-proxy-server"]
    running = stack.pid_file(proxy).running()
    assert running is not None
    return running.pid


def test_a_participant_cannot_reach_another_participants_bucket(
    embedded: Settings, unique: str
) -> None:
    a = ensure_s3_user(embedded, f"a-{unique}")
    b = ensure_s3_user(embedded, f"b-{unique}")
    key = f"orders/{unique}/part-0.parquet"
    as_a, as_b = s3_client(a.s3), s3_client(b.s3)
    as_a.create_bucket(Bucket=BUCKET)
    as_a.put_object(Bucket=BUCKET, Key=key, Body=b"A's release")

    assert [bucket["Name"] for bucket in as_a.list_buckets()["Buckets"]] == [BUCKET]
    assert as_b.list_buckets()["Buckets"] == []
    assert refusal(lambda: as_b.list_objects_v2(Bucket=BUCKET)) == (404, "NoSuchBucket")
    assert refusal(lambda: as_b.get_object(Bucket=BUCKET, Key=key)) == (404, "NoSuchBucket")
    assert refusal(lambda: as_b.put_object(Bucket=BUCKET, Key=key, Body=b"B")) == (
        404,
        "NoSuchBucket",
    )
    # B may have a bucket of the same name: it is B's own, and A's object is not in it.
    as_b.create_bucket(Bucket=BUCKET)
    assert as_b.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    as_b.put_object(Bucket=BUCKET, Key=key, Body=b"B's bytes")
    assert as_a.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"A's release"

    # Nor does the stack's own key see the participant's bucket.
    operator = s3_client(embedded.s3())
    assert BUCKET not in [bucket["Name"] for bucket in operator.list_buckets()["Buckets"]]


def test_another_participants_token_is_refused_on_the_account_itself(
    embedded: Settings, unique: str
) -> None:
    a = ensure_s3_user(embedded, f"a-{unique}")
    b = ensure_s3_user(embedded, f"b-{unique}")
    s3_client(a.s3).create_bucket(Bucket=BUCKET)
    s3_client(a.s3).put_object(Bucket=BUCKET, Key="kept.txt", Body=b"kept")
    a_token, a_account = swift_token(a)
    b_token, b_account = swift_token(b)
    assert a_account.endswith(f"/AUTH_participant-a-{unique}")
    assert b_account.endswith(f"/AUTH_participant-b-{unique}")

    assert swift_status(f"{a_account}/{BUCKET}/kept.txt", a_token) == 200
    # `.admin` of its own account only: a reseller admin would be let into A's account.
    assert swift_status(a_account, b_token) == 403
    assert swift_status(f"{a_account}/{BUCKET}", b_token) == 403
    assert swift_status(f"{a_account}/{BUCKET}/kept.txt", b_token) == 403
    assert swift_status(f"{a_account}/{BUCKET}/x.txt", b_token, "PUT", b"x") == 403
    assert swift_status(f"{a_account}/{BUCKET}/kept.txt", b_token, "DELETE") == 403
    assert swift_status(f"{a_account}/{BUCKET}/kept.txt", a_token) == 200


def test_a_participants_presigned_url_works_for_anyone(embedded: Settings, unique: str) -> None:
    a = ensure_s3_user(embedded, f"a-{unique}")
    as_a = s3_client(a.s3)
    as_a.create_bucket(Bucket=BUCKET)
    as_a.put_object(Bucket=BUCKET, Key="granted.txt", Body=b"granted bytes")
    as_a.put_object(Bucket=BUCKET, Key="other.txt", Body=b"not granted")
    url = as_a.generate_presigned_url(
        "get_object",
        Params={"Bucket": BUCKET, "Key": "granted.txt"},
        ExpiresIn=int(timedelta(minutes=2).total_seconds()),
    )

    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"granted bytes"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url.replace("granted.txt", "other.txt"), timeout=10)
    assert refused.value.code == 403
    refused.value.close()


def test_adding_users_restarts_nothing_and_the_stack_user_keeps_working(
    embedded: Settings, unique: str
) -> None:
    before = proxy_pid(embedded)
    operator = s3_client(embedded.s3())
    bucket = f"test-{unique}"
    operator.create_bucket(Bucket=bucket)

    for name in ("c", "d", "e"):
        ensure_s3_user(embedded, f"{name}-{unique}")

    operator.put_object(Bucket=bucket, Key="still.txt", Body=b"still mine")
    assert operator.get_object(Bucket=bucket, Key="still.txt")["Body"].read() == b"still mine"
    assert proxy_pid(embedded) == before


def test_the_same_participant_gets_the_same_private_keys(embedded: Settings, unique: str) -> None:
    participant = f"p-{unique}"
    first = ensure_s3_user(embedded, participant)
    again = ensure_s3_user(embedded, participant)

    assert again == first
    assert first.access_key == access_key_for(participant) == f"participant-{participant}:connector"
    assert first.endpoint == embedded.s3().url
    record = users_dir(embedded) / f"{participant}.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert stat.S_IMODE(record.parent.stat().st_mode) == 0o700
    assert not list(record.parent.glob(".*.tmp"))


def test_the_command_prints_the_same_keys_as_json(embedded: Settings, unique: str) -> None:
    participant = f"cli-{unique}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    env |= {
        "DATASPACE_STATE_DIR": str(embedded.state_dir),
        "DATASPACE_S3_PORT": str(embedded.s3_port),
        "DATASPACE_KAFKA_PORT": str(embedded.kafka_port),
    }
    result = subprocess.run(
        [DATASPACE, "stack", "s3-user", participant, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    printed = json.loads(result.stdout)
    assert printed == ensure_s3_user(embedded, participant).to_json()
    assert set(printed) == {"access_key", "secret_key", "endpoint"}


def test_a_bad_id_or_a_bad_record_changes_nobody_else(embedded: Settings, unique: str) -> None:
    with pytest.raises(InvalidInput, match="participant id"):
        ensure_s3_user(embedded, "../operator")
    good = ensure_s3_user(embedded, f"good-{unique}")
    # A record cannot take over the stack's own user, and a broken one locks nobody out.
    stack_key = embedded.s3().access_key
    intruder = users_dir(embedded) / f"intruder-{unique}.json"
    broken = users_dir(embedded) / f"broken-{unique}.json"
    try:
        intruder.write_text(json.dumps({"access_key": stack_key, "secret_key": "guessed"}))
        broken.write_text("{not json")
        ensure_s3_user(embedded, f"later-{unique}")  # the proxy has re-read the directory

        guessed = dataclasses.replace(embedded.s3(), secret_key=SecretStr("guessed"))
        assert refusal(lambda: s3_client(guessed).list_buckets())[0] == 403
        assert "Buckets" in s3_client(embedded.s3()).list_buckets()
        assert s3_client(good.s3).list_buckets()["Buckets"] == []
    finally:
        intruder.unlink(missing_ok=True)
        broken.unlink(missing_ok=True)


def test_users_outlive_a_restart_and_down_stops_everything(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "state")
    stack = Stack(settings)
    try:
        stack.up()
        provider = ensure_s3_user(settings, "provider")
        s3_client(provider.s3).create_bucket(Bucket=BUCKET)
        s3_client(provider.s3).put_object(Bucket=BUCKET, Key="kept.txt", Body=b"kept")
        pids = {pid for status in stack.status() for pid in status.pids}

        stack.down()
        assert all(status.state != "running" for status in stack.status())
        assert not any(is_alive(pid) for pid in pids)
        stack.up()

        assert ensure_s3_user(settings, "provider") == provider
        body = s3_client(provider.s3).get_object(Bucket=BUCKET, Key="kept.txt")["Body"]
        assert body.read() == b"kept"
    finally:
        stack.down()
