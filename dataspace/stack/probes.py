"""Reachability checks for services we do not run ourselves. Each returns None when the
service answers, or one sentence saying what is wrong."""

from __future__ import annotations

from dataspace.config import Settings
from dataspace.errors import ConfigError


def kafka_reachable(settings: Settings) -> str | None:
    from confluent_kafka import KafkaException  # noqa: PLC0415
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415

    admin = AdminClient({**settings.kafka_producer_config(), "log_level": "0"})
    try:
        admin.list_topics(timeout=3)
    except KafkaException as exc:
        return f"no answer from {settings.bootstrap_servers}: {exc.args[0]}"
    return None


def s3_reachable(settings: Settings) -> str | None:
    import urllib3  # noqa: PLC0415
    from minio import Minio  # noqa: PLC0415
    from minio.error import MinioException  # noqa: PLC0415

    try:
        endpoint = settings.s3()
    except ConfigError as exc:
        return str(exc)
    # One quick try: a status check should not sit through the SDK's retry back-off.
    http = urllib3.PoolManager(timeout=3.0, retries=urllib3.Retry(total=0))
    try:
        Minio(**endpoint.minio_kwargs(), http_client=http).list_buckets()
    except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
        return f"no answer from {endpoint.url}: {type(exc).__name__}"
    finally:
        http.clear()
    return None


def database_reachable(url: str) -> str | None:
    if url.startswith("sqlite"):
        return None  # a file: created on first use
    from sqlalchemy import create_engine, text  # noqa: PLC0415
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    engine = create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        return f"cannot connect: {type(cause).__name__}"
    finally:
        engine.dispose()
    return None
