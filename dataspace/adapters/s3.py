"""S3 clients built from the one parsed endpoint: the `minio` SDK and pyarrow's filesystem.

Both work against MinIO in production and the embedded Swift s3api. Clients are cheap to
build and thread-safe to share (urllib3 pool / Arrow's AWS SDK client).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataspace.config import S3Endpoint
from dataspace.errors import ServiceError

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
