"""The demo extract as a file, and an extract put into the authority's own bucket.

:func:`write_sample` writes :func:`dataset.monthly_readings` as CSV or Parquet (by the file's
suffix), created 0600: it looks like what an authority holds, names and phones included.
:func:`upload_extract` uploads a file with the authority's own S3 user (``stack s3-user``), so
only that user's keys can read it back; the bucket is made if it is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataspace.canonical import file_sha256
from dataspace.errors import InvalidInput, ServiceError
from dataspace.private_paths import open_private
from dataspace.publicdata.sources import OBJECT_FORMATS, check_object

if TYPE_CHECKING:
    from dataspace.config import Settings


def write_sample(out: Path, enterprises: int | None = None) -> dict[str, Any]:
    """Write the demo extract of the first ``enterprises`` (all by default) to ``out``."""
    import pyarrow.csv as pcsv  # noqa: PLC0415 (heavy; imported when a command runs)
    import pyarrow.parquet as pq  # noqa: PLC0415

    from dataspace.publicdata import dataset  # noqa: PLC0415

    kind = OBJECT_FORMATS.get(out.suffix.lower())
    if kind is None:
        raise InvalidInput(f"The sample's file {out} must end in .csv or .parquet.")
    available = len(dataset.enterprises())
    if enterprises is not None and not 1 <= enterprises <= available:
        raise InvalidInput(
            f"The demo extract holds 1 to {available} enterprises, not {enterprises}."
        )
    if not out.parent.is_dir():
        raise InvalidInput(f"The directory {out.parent} does not exist; create it first.")
    table = dataset.monthly_readings(enterprises)
    with open_private(out) as handle:
        if kind == "csv":
            pcsv.write_csv(table, handle)
        else:
            pq.write_table(table, handle, compression="zstd")
    return {
        "path": str(out),
        "format": kind,
        "rows": table.num_rows,
        "enterprises": len(set(table["credit_code"].to_pylist())),
        "sha256": file_sha256(out),
    }


def upload_extract(
    settings: Settings, participant: str, file: Path, destination: str
) -> dict[str, Any]:
    """Upload ``file`` to ``bucket/key`` with ``participant``'s own S3 user; what was stored."""
    from minio.error import MinioException, S3Error  # noqa: PLC0415

    from dataspace.adapters.s3 import ensure_bucket, minio_client  # noqa: PLC0415
    from dataspace.stack.s3_users import ensure_s3_user  # noqa: PLC0415

    bucket, _, key = check_object(destination).partition("/")
    if not file.is_file():
        raise InvalidInput(f"The file {file} does not exist; give the extract to upload.")
    if file.suffix.lower() != Path(key).suffix.lower():
        raise InvalidInput(
            f"The file {file} is {file.suffix or 'without a suffix'} but the object {key} is "
            f"{Path(key).suffix}; a release reads an object by its suffix, so make them match."
        )
    credentials = ensure_s3_user(settings, participant)
    client = minio_client(credentials.s3)
    try:
        ensure_bucket(client, bucket)
        stored = client.fput_object(bucket, key, str(file))
    except ValueError as exc:  # the SDK's check of a bucket name
        raise InvalidInput(f"The bucket name {bucket!r} is not valid: {exc}.") from exc
    except S3Error as exc:
        raise ServiceError(f"The object store refused {bucket}/{key}: {exc.code}.") from exc
    except (MinioException, OSError) as exc:
        raise ServiceError(
            f"The object store is unreachable ({type(exc).__name__}); start it with `dataspace up`."
        ) from exc
    return {
        "participant": participant,
        "endpoint": credentials.endpoint,
        "access_key": credentials.access_key,
        "object": f"{bucket}/{key}",
        "bytes": file.stat().st_size,
        "sha256": file_sha256(file),
        "etag": stored.etag,
    }
