"""The node's buckets (:class:`dataspace.node.Node` keeps one of each per process), and
presigned links to what the operator's jobs wrote."""

from __future__ import annotations

from datetime import timedelta

from dataspace.adapters.s3 import arrow_filesystem, ensure_bucket, minio_client, presigner
from dataspace.config import Settings
from dataspace.dataplane.objects import ObjectStore

LINK_LIFETIME = timedelta(days=7)  # the longest an S3 presigned URL may live


def object_store(settings: Settings, bucket: str) -> ObjectStore:
    """``bucket`` on the node's S3 endpoint, created if it does not exist yet."""
    endpoint = settings.s3()
    ensure_bucket(minio_client(endpoint), bucket)
    return ObjectStore(arrow_filesystem(endpoint), bucket)


def release_store(settings: Settings) -> ObjectStore:
    """The node's release bucket: releases, views, and the quality reports next to them."""
    return object_store(settings, settings.release_bucket)


def reports_store(settings: Settings) -> ObjectStore:
    """The operator's bucket of settlement statements and evaluation reports."""
    return object_store(settings, settings.reports_bucket)


def report_link(settings: Settings, key: str, lifetime: timedelta = LINK_LIFETIME) -> str:
    """A presigned GET URL for ``key`` in the reports bucket (signed locally, no request)."""
    return presigner(settings.s3(), settings.reports_bucket)(key, lifetime)
