"""The one settings object: read once from the environment and ``dataspace.toml``, validated,
then passed down.

Every variable is prefixed ``DATASPACE_``. A service whose address is not configured is the
embedded one that ``dataspace up`` starts on loopback; a configured address (an external Kafka,
MinIO or PostgreSQL) is used as it is and ``up`` starts nothing for it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from dataspace import resources
from dataspace.errors import ConfigError

CONFIG_FILE_ENV = "DATASPACE_CONFIG"
DEFAULT_CONFIG_FILE = "dataspace.toml"
EMBEDDED_S3_USER = "dataspace:operator"
EMBEDDED_CREDENTIALS_FILE = "s3-credentials.json"

# What confluent-kafka's clients take as configuration.
KafkaConfig = dict[str, str | int | float | bool]

# Tansu does not wake a waiting fetch when data arrives, and a joining consumer waits about
# half its session timeout: without these, latency is 100+ ms and the first message ~23 s.
EMBEDDED_CONSUMER_TUNING = {
    "session.timeout.ms": "6000",
    "heartbeat.interval.ms": "500",
    "fetch.wait.max.ms": "10",
    "fetch.queue.backoff.ms": "10",
}
# librdkafka properties only a consumer reads: a producer given one logs a CONFWARN, so the
# producer's configuration leaves them out of ``kafka_options`` (which serves both kinds).
CONSUMER_ONLY_PROPERTIES = frozenset(
    {
        "group.id",
        "group.instance.id",
        "group.protocol",
        "group.remote.assignor",
        "partition.assignment.strategy",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "max.poll.interval.ms",
        "coordinator.query.interval.ms",
        "enable.auto.commit",
        "auto.commit.interval.ms",
        "enable.auto.offset.store",
        "auto.offset.reset",
        "queued.min.messages",
        "queued.max.messages.kbytes",
        "fetch.wait.max.ms",
        "fetch.queue.backoff.ms",
        "fetch.message.max.bytes",
        "max.partition.fetch.bytes",
        "fetch.max.bytes",
        "fetch.min.bytes",
        "fetch.error.backoff.ms",
        "isolation.level",
        "enable.partition.eof",
        "check.crcs",
    }
)


@dataclass(frozen=True)
class S3Endpoint:
    """An S3 endpoint parsed once, rendered for each client library that needs it."""

    scheme: str
    host: str
    port: int
    access_key: str
    secret_key: SecretStr
    region: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    def minio_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``minio.Minio``: ``host:port`` plus ``secure``."""
        return {
            "endpoint": f"{self.host}:{self.port}",
            "access_key": self.access_key,
            "secret_key": self.secret_key.get_secret_value(),
            "secure": self.secure,
            "region": self.region,
        }

    def arrow_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pyarrow.fs.S3FileSystem``: a scheme in the override."""
        return {
            "endpoint_override": self.url,
            "scheme": self.scheme,
            "access_key": self.access_key,
            "secret_key": self.secret_key.get_secret_value(),
            "region": self.region,
            "force_virtual_addressing": False,
            # A 1 MB upload drops from ~120 ms to ~30 ms without the eager HEAD.
            "allow_delayed_open": True,
        }

    def boto3_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client("s3", ...)``."""
        return {
            "endpoint_url": self.url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key.get_secret_value(),
            "region_name": self.region,
        }


def parse_s3_endpoint(
    url: str, *, access_key: str, secret_key: SecretStr, region: str
) -> S3Endpoint:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"The S3 endpoint {url!r} is not an http(s) URL; "
            "set DATASPACE_S3_ENDPOINT to something like http://127.0.0.1:9000."
        )
    if parts.path not in ("", "/"):
        raise ConfigError(f"The S3 endpoint {url!r} has a path; give only scheme, host and port.")
    try:
        explicit_port = parts.port
    except ValueError as exc:
        raise ConfigError(f"The S3 endpoint {url!r} has an invalid port.") from exc
    port = explicit_port or (443 if parts.scheme == "https" else 80)
    return S3Endpoint(parts.scheme, parts.hostname, port, access_key, secret_key, region)


class Settings(BaseSettings):
    """Everything the project can be configured with. Unset addresses mean "embedded"."""

    model_config = SettingsConfigDict(
        env_prefix="DATASPACE_",
        extra="forbid",
        frozen=True,
    )

    state_dir: Path = Field(
        default=Path(".dataspace"),
        description="Where the embedded stack keeps its data, logs, pid files and keys.",
    )
    schemas_dir: Path = Field(
        default_factory=lambda: resources.data_root() / "schemas",
        description="Avro schemas: events, and data products under products/<name>.avsc.",
    )
    expectations_dir: Path = Field(
        default_factory=lambda: resources.data_root() / "expectations",
        description="Great Expectations suites, one <name>.json per data product.",
    )
    data_spaces_file: Path = Field(
        default_factory=resources.data_spaces_file,
        description="The 123+ data-space configuration the evaluation report counts against.",
    )
    dags_dir: Path = Field(
        default_factory=lambda: resources.data_root() / "dags",
        description="The DAG folder of the Airflow that `dataspace up --with-airflow` starts.",
    )
    database_url: str | None = Field(
        default=None,
        description="Control-plane database (SQLAlchemy URL); a SQLite file in the state "
        "directory when unset.",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="External Kafka brokers; the embedded broker when unset."
    )
    kafka_options: dict[str, str] = Field(
        default_factory=dict,
        description="Extra librdkafka client options (JSON object), e.g. security settings.",
    )
    kafka_participant_principals: bool = Field(
        default=False,
        description="The hub gives each admitted participant its own Kafka principal "
        "(SASL/SCRAM-SHA-512), its own topics and ACLs, and takes the ACLs away on suspension. "
        "Needs a broker that authenticates and authorizes (Apache Kafka with SASL and an "
        "authorizer) and kafka_options holding the hub's own admin principal; the embedded "
        "broker authenticates no one, so there every client reads every topic.",
    )
    kafka_fetch_wait_max_ms: int | None = Field(
        default=None,
        ge=0,
        description="How long a consumer's fetch waits at the broker for data "
        "(fetch.wait.max.ms); unset: 10 on the embedded broker, which does not wake a waiting "
        "fetch, and librdkafka's default elsewhere. ~100 suits many idle consumers on a host.",
    )
    kafka_port: int = Field(default=19092, ge=1, le=65535)
    s3_endpoint: str | None = Field(
        default=None, description="External S3/MinIO URL; the embedded store when unset."
    )
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    release_bucket: str = Field(
        default="dataspace-releases",
        pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
        description="The bucket holding every release and subscriber view of this node, "
        "under <product>/<version>/...; grants presign objects in it.",
    )
    reports_bucket: str = Field(
        default="dataspace-reports",
        pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
        description="The bucket holding the operator's settlement statements and evaluation "
        "reports (quality reports sit next to their release in the release bucket).",
    )
    s3_port: int = Field(
        default=18080,
        ge=1,
        le=65531,
        description="Embedded S3 port; Swift's object, container and account servers "
        "take the next three ports.",
    )

    airflow_port: int = Field(
        default=18800,
        ge=1,
        le=65533,
        description="Port of the Airflow UI and API that `dataspace up --with-airflow` starts; "
        "its worker and triggerer log servers take the next two ports.",
    )

    @field_validator("state_dir", "schemas_dir", "expectations_dir", "data_spaces_file", "dags_dir")
    @classmethod
    def _absolute_path(cls, value: Path) -> Path:
        # Services are started from other directories: a relative path would move with them.
        return value.expanduser().resolve()

    @field_validator("kafka_options", mode="before")
    @classmethod
    def _options_as_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    # -- derived views -------------------------------------------------------------------

    @property
    def kafka_embedded(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def s3_embedded(self) -> bool:
        return self.s3_endpoint is None

    @property
    def database_embedded(self) -> bool:
        return self.database_url is None

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def airflow_home(self) -> Path:
        """AIRFLOW_HOME of the Airflow that `up --with-airflow` starts (SQLite metadata)."""
        return self.state_dir / "airflow"

    @property
    def keys_dir(self) -> Path:
        """Private keys of the participants run from this node, and the operator's."""
        return self.state_dir / "keys"

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'control-plane.db'}"

    def kafka_producer_config(self, **overrides: str) -> KafkaConfig:
        """Producer settings: ``kafka_options`` without the consumer-only properties."""
        shared = {
            name: value
            for name, value in self.kafka_options.items()
            if name not in CONSUMER_ONLY_PROPERTIES
        }
        config: KafkaConfig = {"bootstrap.servers": self.bootstrap_servers, **shared}
        return {**config, **overrides}

    def kafka_consumer_config(self, group_id: str, **overrides: str) -> KafkaConfig:
        tuning = dict(EMBEDDED_CONSUMER_TUNING) if self.kafka_embedded else {}
        if self.kafka_fetch_wait_max_ms is not None:
            tuning["fetch.wait.max.ms"] = str(self.kafka_fetch_wait_max_ms)
        config: KafkaConfig = {
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": "false",
            "auto.offset.reset": "earliest",
            **tuning,
            **self.kafka_options,
        }
        return {**config, **overrides}

    def environment(self) -> dict[str, str]:
        """DATASPACE_* variables that make ``load_settings()`` in a child process (an Airflow
        task, a scheduler) give these settings back, whatever file or override made them."""
        values = self.model_dump(exclude_none=True)
        env: dict[str, str] = {}
        for name, value in values.items():
            if isinstance(value, SecretStr):
                rendered = value.get_secret_value()
            elif isinstance(value, dict):
                rendered = json.dumps(value)
            else:
                rendered = str(value)
            env[f"DATASPACE_{name.upper()}"] = rendered
        return env

    def s3(self) -> S3Endpoint:
        """The S3 endpoint with its credentials; for the embedded store, those `up` made."""
        if self.s3_endpoint is None:
            access_key, secret = self._embedded_s3_credentials()
            endpoint = f"http://127.0.0.1:{self.s3_port}"
        else:
            if not self.s3_access_key or self.s3_secret_key is None:
                raise ConfigError(
                    "DATASPACE_S3_ENDPOINT is set but its credentials are not; "
                    "set DATASPACE_S3_ACCESS_KEY and DATASPACE_S3_SECRET_KEY too."
                )
            access_key, secret = self.s3_access_key, self.s3_secret_key
            endpoint = self.s3_endpoint
        return parse_s3_endpoint(
            endpoint, access_key=access_key, secret_key=secret, region=self.s3_region
        )

    def _embedded_s3_credentials(self) -> tuple[str, SecretStr]:
        path = self.state_dir / EMBEDDED_CREDENTIALS_FILE
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            return stored["access_key"], SecretStr(stored["secret_key"])
        except FileNotFoundError as exc:
            raise ConfigError(
                f"The embedded object store has no credentials yet ({path} is missing); "
                "run `dataspace up` first."
            ) from exc
        except (ValueError, KeyError) as exc:
            raise ConfigError(
                f"{path} is not a valid credentials file; remove it and run `dataspace up`."
            ) from exc


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings once; a bad value becomes one clear ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "configuration"
        raise ConfigError(
            f"The setting {field!r} is invalid ({first['msg']}); fix DATASPACE_"
            f"{field.upper()} or {field} in dataspace.toml."
        ) from exc
