"""The settings: sources, validation and rendering for each client library."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from dataspace.config import load_settings, parse_s3_endpoint
from dataspace.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("DATASPACE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray dataspace.toml


def endpoint(url: str):  # type: ignore[no-untyped-def]
    return parse_s3_endpoint(url, access_key="ak", secret_key=SecretStr("sk"), region="cn-east-1")


def test_s3_endpoint_is_rendered_for_minio_and_for_pyarrow() -> None:
    parsed = endpoint("https://minio.example:9443")
    assert parsed.minio_kwargs() == {
        "endpoint": "minio.example:9443",
        "access_key": "ak",
        "secret_key": "sk",
        "secure": True,
        "region": "cn-east-1",
    }
    arrow = parsed.arrow_kwargs()
    assert arrow["endpoint_override"] == "https://minio.example:9443"
    assert arrow["scheme"] == "https"
    assert arrow["allow_delayed_open"] is True


def test_s3_endpoint_defaults_port_and_scheme() -> None:
    assert endpoint("http://store").port == 80
    assert endpoint("https://store").port == 443
    assert endpoint("127.0.0.1:9000").url == "http://127.0.0.1:9000"


@pytest.mark.parametrize("bad", ["ftp://store:21", "http://store:9000/bucket", "http://:9000"])
def test_a_bad_s3_endpoint_is_refused_with_a_sentence(bad: str) -> None:
    with pytest.raises(ConfigError, match="S3 endpoint"):
        endpoint(bad)


def test_unset_addresses_mean_the_embedded_stack(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.kafka_embedded
    assert settings.s3_embedded
    assert settings.database_embedded
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.state_dir == tmp_path / ".dataspace"  # made absolute at load
    assert settings.effective_database_url == f"sqlite:///{tmp_path}/.dataspace/control-plane.db"


def test_environment_points_at_a_production_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATASPACE_KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("DATASPACE_KAFKA_OPTIONS", '{"security.protocol": "SASL_SSL"}')
    monkeypatch.setenv("DATASPACE_S3_ENDPOINT", "https://minio.prod:9000")
    monkeypatch.setenv("DATASPACE_S3_ACCESS_KEY", "exchange")
    monkeypatch.setenv("DATASPACE_S3_SECRET_KEY", "s3cr3t")
    monkeypatch.setenv("DATASPACE_DATABASE_URL", "postgresql+psycopg2://cp@db/cp")
    settings = load_settings()

    assert not settings.kafka_embedded
    consumer = settings.kafka_consumer_config("g")
    assert consumer["bootstrap.servers"] == "kafka-1:9092,kafka-2:9092"
    assert consumer["security.protocol"] == "SASL_SSL"
    assert "fetch.wait.max.ms" not in consumer, "Tansu tuning is for the embedded broker only"
    assert settings.s3().minio_kwargs()["secure"] is True
    assert settings.effective_database_url == "postgresql+psycopg2://cp@db/cp"
    assert "s3cr3t" not in repr(settings)


def test_embedded_consumers_get_the_tansu_tuning() -> None:
    consumer = load_settings().kafka_consumer_config("g")
    assert consumer["session.timeout.ms"] == "6000"
    assert consumer["fetch.wait.max.ms"] == "10"
    assert consumer["enable.auto.commit"] == "false"


def test_producers_leave_out_consumer_only_options_and_fetch_wait_is_a_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "DATASPACE_KAFKA_OPTIONS",
        '{"session.timeout.ms": "2000", "fetch.queue.backoff.ms": "5", "client.id": "node-1"}',
    )
    monkeypatch.setenv("DATASPACE_KAFKA_FETCH_WAIT_MAX_MS", "100")
    settings = load_settings()

    producer = settings.kafka_producer_config(acks="all")
    consumer = settings.kafka_consumer_config("g")

    assert producer == {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": "node-1",
        "acks": "all",
    }
    assert consumer["session.timeout.ms"] == "2000"
    assert consumer["fetch.queue.backoff.ms"] == "5"
    assert consumer["fetch.wait.max.ms"] == "100"
    assert consumer["client.id"] == "node-1"


def test_dataspace_toml_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dataspace.toml").write_text('kafka_port = 29092\ns3_region = "cn-north-1"\n')
    monkeypatch.setenv("DATASPACE_S3_REGION", "cn-south-1")
    settings = load_settings()
    assert settings.kafka_port == 29092
    assert settings.s3_region == "cn-south-1"


def test_an_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATASPACE_KAFKA_PORT", "99999")
    with pytest.raises(ConfigError, match="'kafka_port' is invalid"):
        load_settings()


def test_an_unknown_key_in_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dataspace.toml").write_text("kafka_prot = 1\n")
    with pytest.raises(ConfigError, match="kafka_prot"):
        load_settings()


def test_external_s3_without_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATASPACE_S3_ENDPOINT", "http://minio:9000")
    with pytest.raises(ConfigError, match="DATASPACE_S3_ACCESS_KEY"):
        load_settings().s3()


def test_embedded_s3_before_up_says_to_run_up() -> None:
    with pytest.raises(ConfigError, match="dataspace up"):
        load_settings().s3()
