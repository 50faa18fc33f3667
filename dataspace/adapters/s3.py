"""S3 clients built from the one parsed endpoint: the `minio` SDK and pyarrow's filesystem.

Both work against MinIO in production and the embedded Swift s3api. Clients are cheap to
build and thread-safe to share (urllib3 pool / Arrow's AWS SDK client).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from dataspace.config import S3Endpoint
from dataspace.errors import InvalidInput, ServiceError

if TYPE_CHECKING:
    from minio import Minio
    from pyarrow.fs import S3FileSystem


def minio_client(endpoint: S3Endpoint) -> Minio:
    from minio import Minio  # noqa: PLC0415

    return Minio(**endpoint.minio_kwargs())


def arrow_filesystem(endpoint: S3Endpoint) -> S3FileSystem:
    from pyarrow.fs import S3FileSystem  # noqa: PLC0415

    return S3FileSystem(**endpoint.arrow_kwargs())


def ensure_bucket(client: Minio, bucket: str) -> None:
    """Create ``bucket`` unless it exists. Idempotent; a concurrent creator is harmless."""
    from minio.error import MinioException, S3Error  # noqa: PLC0415

    try:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
    except S3Error as exc:
        if exc.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return
        raise ServiceError(f"The object store refused bucket {bucket!r}: {exc.code}.") from exc
    except (MinioException, OSError) as exc:
        raise ServiceError(
            f"The object store is unreachable ({type(exc).__name__}); "
            "start it with `dataspace up` or check DATASPACE_S3_ENDPOINT."
        ) from exc


# What the control plane needs to hand out a grant: (object key, lifetime) -> presigned GET URL.
Presign = Callable[[str, timedelta], str]
MAX_PRESIGN_LIFETIME = timedelta(days=7)  # the S3 (SigV4) limit


def presigner(endpoint: S3Endpoint, bucket: str) -> Presign:
    """Presigned GET URLs for objects of ``bucket``, signed locally (no request is made).

    The URL carries its expiry (``X-Amz-Expires``) and is refused by the store afterwards;
    anyone holding it may read that one object until then, so it is handed only to the
    subscriber a grant is for and never logged.
    """
    client = minio_client(endpoint)

    def presign(key: str, lifetime: timedelta) -> str:
        if not timedelta(0) < lifetime <= MAX_PRESIGN_LIFETIME:
            raise InvalidInput(f"A presigned URL lives between 1 s and 7 days, not {lifetime}.")
        return str(client.presigned_get_object(bucket, key, expires=lifetime))

    return presign
