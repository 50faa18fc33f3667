"""Provision (or remove) one provider on the production-like MinIO: bucket, user, policy.

Called by ``minio.sh add-provider`` / ``remove-provider``; not a product module. The root
credentials come from the environment (PRODLIKE_MINIO_*, the engine's env file), the
provider's secret from a 0600 file, so that no secret appears in a process listing.

Every step is idempotent: a second ``add`` leaves the bucket and its objects alone, resets the
user's secret to the one in the file and rewrites the policy from the template.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from minio import Minio
from minio.credentials import StaticProvider
from minio.error import MinioAdminException, MinioException, S3Error
from minio.minioadmin import MinioAdmin


def _endpoint() -> tuple[str, bool, str, str]:
    url = urlsplit(os.environ["PRODLIKE_MINIO_ENDPOINT"])
    user = os.environ["PRODLIKE_MINIO_ROOT_USER"]
    password = os.environ["PRODLIKE_MINIO_ROOT_PASSWORD"]
    return str(url.netloc), url.scheme == "https", user, password


def _clients() -> tuple[Minio, MinioAdmin]:
    host, secure, user, password = _endpoint()
    s3 = Minio(host, access_key=user, secret_key=password, secure=secure, region="us-east-1")
    admin = MinioAdmin(endpoint=host, credentials=StaticProvider(user, password), secure=secure)
    return s3, admin


def policy_name(participant: str) -> str:
    return f"dataspace-provider-{participant}"


def render_policy(template: Path, bucket: str) -> dict[str, object]:
    policy: dict[str, object] = json.loads(
        template.read_text(encoding="utf-8").replace("@BUCKET@", bucket)
    )
    return policy


def add(participant: str, bucket: str, secret_file: Path, template: Path) -> None:
    s3, admin = _clients()
    if not s3.bucket_exists(bucket):
        s3.make_bucket(bucket)
    secret = secret_file.read_text(encoding="utf-8").strip()
    admin.user_add(participant, secret)
    admin.policy_add(policy_name(participant), policy=render_policy(template, bucket))
    attached = json.loads(admin.user_info(participant)).get("policyName", "")
    if policy_name(participant) not in attached.split(","):
        admin.attach_policy([policy_name(participant)], user=participant)


def remove(participant: str, bucket: str, *, purge_bucket: bool) -> None:
    s3, admin = _clients()
    # Each step may find its object already gone: removal is idempotent.
    with contextlib.suppress(MinioAdminException):
        admin.detach_policy([policy_name(participant)], user=participant)
    with contextlib.suppress(MinioAdminException):
        admin.user_remove(participant)
    with contextlib.suppress(MinioAdminException):
        admin.policy_remove(policy_name(participant))
    if purge_bucket and s3.bucket_exists(bucket):
        for item in s3.list_objects(bucket, recursive=True):
            s3.remove_object(bucket, str(item.object_name))
        s3.remove_bucket(bucket)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    add_verb = verbs.add_parser("add")
    add_verb.add_argument("participant")
    add_verb.add_argument("bucket")
    add_verb.add_argument("--secret-file", type=Path, required=True)
    add_verb.add_argument("--policy-template", type=Path, required=True)
    remove_verb = verbs.add_parser("remove")
    remove_verb.add_argument("participant")
    remove_verb.add_argument("bucket")
    remove_verb.add_argument("--purge-bucket", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.verb == "add":
            add(args.participant, args.bucket, args.secret_file, args.policy_template)
        else:
            remove(args.participant, args.bucket, purge_bucket=args.purge_bucket)
    except (MinioException, MinioAdminException, S3Error, OSError) as exc:
        print(f"minio: provisioning {args.participant!r} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
