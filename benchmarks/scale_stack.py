"""Which stack ``benchmarks/scale.py`` measures on, and how its parties reach it.

- ``embedded`` (the default): ``dataspace up``'s Tansu and Swift, started here in a temporary
  state directory on free ports and stopped at the end; a hub on PostgreSQL uses the
  machine's PostgreSQL (``DATASPACE_BENCH_POSTGRES_URL``, default the superuser on
  127.0.0.1:5432, as ``.ci/postgres`` starts it), in a database made for the run;
- ``production-like``: the engines ``infra/production-like/stack up`` runs (read from their
  ``<engine>.env`` files, never started here): the 3-node Kafka cluster with SCRAM and ACLs
  (the hub is its admin; with participant principals, each admitted participant reads as
  itself), MinIO (a provider gets its own user and bucket) and PostgreSQL (a database and
  role per hub).

:class:`BenchStack` hands a part what it needs: the stack's :class:`Settings` (admin
credentials: what the benchmark's own raw peers use), a :class:`Federation` for hub and
connectors, and fresh PostgreSQL databases. Everything a run made (databases, MinIO users and
buckets) goes when the stack closes.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from dataspace.config import Settings, load_settings
from dataspace.errors import ServiceError
from dataspace.federation import Federation
from dataspace.stack.ports import free_port, free_port_block
from dataspace.stack.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra" / "production-like"
STACKS = ("embedded", "production-like")
PRODUCTION_LIKE_HOME = Path(
    os.environ.get("DATASPACE_PRODLIKE_HOME", "/var/tmp/dataspace-production-like")  # noqa: S108
)
DEFAULT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@dataclass
class BenchStack:
    """One stack for one benchmark run (see the module docstring)."""

    name: str
    settings: Settings
    root: Path
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _databases: list[str] = field(default_factory=list)
    _providers: list[str] = field(default_factory=list)

    @property
    def production_like(self) -> bool:
        return self.name == "production-like"

    def federation(self, directory: Path, *, hub_database: str = "sqlite") -> Federation:
        """A federation under ``directory`` whose hub keeps its control plane in SQLite (in
        its state directory) or in a new PostgreSQL database (``hub_database="postgres"``).
        Connectors keep SQLite: their database is small and their own."""
        hub = {  # the benchmark product's schema and suite
            "DATASPACE_SCHEMAS_DIR": str(self.settings.schemas_dir),
            "DATASPACE_EXPECTATIONS_DIR": str(self.settings.expectations_dir),
        }
        if hub_database == "postgres":
            hub["DATASPACE_DATABASE_URL"] = self.postgres_database("hub")
        elif hub_database != "sqlite":
            raise ValueError(f"hub_database is sqlite or postgres, not {hub_database!r}")
        if self.production_like:
            options = dict(self.settings.kafka_options)
            hub["DATASPACE_KAFKA_OPTIONS"] = json.dumps(options)
            hub["DATASPACE_KAFKA_PARTICIPANT_PRINCIPALS"] = "true"
            return Federation(directory, self.settings, hub_settings=hub, own_store=self._bucket)
        return Federation(directory, self.settings, hub_settings=hub)

    def postgres_database(self, purpose: str) -> str:
        """The SQLAlchemy URL of a new, empty database (and, production-like, its role)."""
        name = f"bench_{purpose}_{self.run}_{len(self._databases)}"
        self._databases.append(name)
        if self.production_like:
            return _script("postgres", "add-database", name)
        admin = os.environ.get("DATASPACE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
        _admin_sql(admin, f'CREATE DATABASE "{name}"')
        return admin.rsplit("/", 1)[0] + f"/{name}"

    def _bucket(self, participant: str) -> list[str]:
        """A provider's own MinIO user and bucket, as `connector init` options."""
        name = f"{participant}-{self.run}"
        self._providers.append(name)
        given = _env_file(Path(_script("minio", "add-provider", name)))
        return [
            "--s3-endpoint", given["PRODLIKE_S3_ENDPOINT"],
            "--s3-access-key", given["PRODLIKE_S3_ACCESS_KEY"],
            "--s3-secret-key", given["PRODLIKE_S3_SECRET_KEY"],
            "--bucket", given["PRODLIKE_S3_BUCKET"],
        ]  # fmt: skip

    def close(self) -> None:
        for name in self._databases:
            if self.production_like:
                _script("postgres", "drop-database", name)
            else:
                admin = os.environ.get("DATASPACE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
                _admin_sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for name in self._providers:
            _script("minio", "remove-provider", name, "--purge-bucket")


@contextmanager
def open_stack(name: str, root: Path, artifacts: dict[str, str]) -> Iterator[BenchStack]:
    """The stack ``name`` for a run under ``root``; ``artifacts`` are the schemas and
    expectations directories (``schemas_dir``, ``expectations_dir``) of the benchmark."""
    if name == "embedded":
        overrides = {
            "state_dir": str(root / "stack"),
            "kafka_port": free_port(),
            "s3_port": free_port_block(4),
            **artifacts,
        }
        settings = load_settings(**overrides)
        stack = Stack(settings)
        stack.up()
        bench = BenchStack(name, settings, root)
        try:
            yield bench
        finally:
            bench.close()
            stack.down()
        return
    if name != "production-like":
        raise SystemExit(f"--stack is one of {', '.join(STACKS)}, not {name!r}.")
    bench = BenchStack(name, production_like_settings(root, artifacts), root)
    try:
        yield bench
    finally:
        bench.close()


def production_like_settings(root: Path, artifacts: dict[str, str]) -> Settings:
    """The production-like engines' addresses and admin credentials, or SystemExit saying
    how to start them."""
    kafka, minio = _engine("kafka"), _engine("minio")
    _engine("postgres")
    return load_settings(
        state_dir=str(root / "stack"),
        kafka_bootstrap_servers=kafka["PRODLIKE_KAFKA_BOOTSTRAP"],
        kafka_options=json.loads(kafka["PRODLIKE_KAFKA_ADMIN_OPTIONS"]),
        s3_endpoint=minio["PRODLIKE_MINIO_ENDPOINT"],
        s3_access_key=minio["PRODLIKE_MINIO_ROOT_USER"],
        s3_secret_key=minio["PRODLIKE_MINIO_ROOT_PASSWORD"],
        **artifacts,
    )


def _engine(engine: str) -> dict[str, str]:
    path = PRODUCTION_LIKE_HOME / f"{engine}.env"
    if not path.is_file():
        raise SystemExit(
            f"The production-like {engine} is not running ({path} is missing); start the "
            "engines with `infra/production-like/stack up`, then run this again."
        )
    return _env_file(path)


def _env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, value = words[1].split("=", 1)
            values[key] = value
    return values


def _script(engine: str, *args: str) -> str:
    done = subprocess.run(
        ["bash", str(INFRA / f"{engine}.sh"), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ServiceError(f"{engine}.sh {' '.join(args)} failed: {done.stderr.strip()[-400:]}")
    return done.stdout.strip()


def _admin_sql(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    except Exception as exc:  # one sentence for the benchmark's user
        raise SystemExit(
            f"The hub-on-PostgreSQL runs need a PostgreSQL at {url} ({exc.__class__.__name__}); "
            "start one with `bash .ci/postgres` or set DATASPACE_BENCH_POSTGRES_URL."
        ) from exc
    finally:
        engine.dispose()
