"""The buckets the operator's jobs read and write, and presigned links to what they wrote."""

from __future__ import annotations

from datetime import timedelta

from dataspace.adapters.s3 import arrow_filesystem, ensure_bucket, minio_client, presigner
from dataspace.config import Settings
from dataspace.dataplane.objects import ObjectStore

LINK_LIFETIME = timedelta(days=7)  # the longest an S3 presigned URL may live


def release_store(settings: Settings) -> ObjectStore:
    """The node's release bucket: releases, views, and the quality reports next to them."""
    ensure_bucket(minio_client(settings.s3()), settings.release_bucket)
    return ObjectStore(arrow_filesystem(settings.s3()), settings.release_bucket)


def reports_store(settings: Settings) -> ObjectStore:
    """The operator's bucket of settlement statements and evaluation reports."""
    ensure_bucket(minio_client(settings.s3()), settings.reports_bucket)
    return ObjectStore(arrow_filesystem(settings.s3()), settings.reports_bucket)


def report_link(settings: Settings, key: str, lifetime: timedelta = LINK_LIFETIME) -> str:
    """A presigned GET URL for ``key`` in the reports bucket (signed locally, no request)."""
    return presigner(settings.s3(), settings.reports_bucket)(key, lifetime)
