"""Per-participant S3 accounts on the embedded Swift, so each connector writes with its own keys.

A participant gets its own Swift account, ``participant-<id>``, with one tempauth user,
``connector``, in the group ``.admin`` of that account only (never ``.reseller_admin``): its
buckets are invisible to every other key, the stack's own included. On Swift's s3api a bucket
name belongs to the account (not to a global namespace, as on AWS): another key that names the
same bucket reaches its own account, where the bucket does not exist.

The credentials live in ``<state_dir>/s3-users/<id>.json`` (0600), the one record both sides
read. Each file is written once, published whole (by a hard link) and never rewritten.

- :func:`ensure_s3_user` (the CLI, tests, the demo) creates a participant's record and waits
  until the running proxy accepts its key.
- :func:`filter_factory` runs inside the proxy in place of tempauth. Tempauth reads its users
  only when the proxy starts, and a proxy with ``workers = 0`` has no reload, so this wrapper
  re-reads the directory on the first request after it changed. Adding a user restarts
  nothing: open connections, uploads in flight and the proxy's cache are left alone (restarting
  the proxy took ~0.5 s and cut every open connection).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataspace.errors import ConfigError, DataspaceError, ServiceError
from dataspace.ids import participant_id
from dataspace.stack.components import http_ok

if TYPE_CHECKING:
    from pydantic import SecretStr

    from dataspace.config import S3Endpoint, Settings

log = logging.getLogger(__name__)

USERS_DIR = "s3-users"
ACCOUNT_PREFIX = "participant-"
USER_NAME = "connector"
# The proxy section's setting that points the wrapper at the records.
USERS_DIR_SETTING = "participant_users_dir"
PICKUP_TIMEOUT_SECONDS = 10.0
PICKUP_POLL_SECONDS = 0.05
# Filesystem timestamps tick coarsely (~4 ms on ext4): a record linked within the tick of the
# proxy's last look leaves the directory's mtime unchanged, so the proxy keeps re-reading
# until the directory's last change is this old.
SETTLE_NS = 1_000_000_000
# What the store answers while a key is unknown to it or its signature cannot be checked yet.
NOT_YET_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"})


@dataclass(frozen=True)
class S3Credentials:
    """One participant's own S3 user on the embedded store, with the endpoint to use it on."""

    participant: str
    s3: S3Endpoint

    @property
    def access_key(self) -> str:
        return self.s3.access_key

    @property
    def secret_key(self) -> SecretStr:
        return self.s3.secret_key

    @property
    def endpoint(self) -> str:
        return self.s3.url

    def to_json(self) -> dict[str, str]:
        """The keys in the clear, for the participant's own connector configuration."""
        return {
            "access_key": self.access_key,
            "secret_key": self.secret_key.get_secret_value(),
            "endpoint": self.endpoint,
        }


def access_key_for(participant: str) -> str:
    """The s3api access key (``account:user``) of a participant's user."""
    return f"{ACCOUNT_PREFIX}{participant}:{USER_NAME}"


def users_dir(settings: Settings) -> Path:
    return settings.state_dir / USERS_DIR


# -- the provisioning side ------------------------------------------------------------------


def ensure_s3_user(settings: Settings, participant: str) -> S3Credentials:
    """Give ``participant`` its own account and user on the running embedded store.

    Idempotent: a second call returns the same keys. Returns once the proxy accepts the key.
    Raises InvalidInput for a bad id, ConfigError when the store is external (its users are
    made by whoever runs it), ServiceError when the embedded store is not running or does not
    take the new key in time.
    """
    from pydantic import SecretStr  # noqa: PLC0415 (the proxy imports this module: keep it light)

    participant_id(participant)
    if not settings.s3_embedded:
        raise ConfigError(
            "Per-participant S3 users are made only on the embedded object store; on "
            f"{settings.s3_endpoint} create the user with that store's own tools."
        )
    stack_s3 = settings.s3()
    _require_running(stack_s3)
    secret = _stored_or_created(users_dir(settings), participant)
    credentials = S3Credentials(
        participant,
        dataclasses.replace(
            stack_s3, access_key=access_key_for(participant), secret_key=SecretStr(secret)
        ),
    )
    began = time.monotonic()
    _wait_until_accepted(credentials, settings)
    log.info(
        "S3 user %s ready in %.3f s",
        credentials.access_key,
        time.monotonic() - began,
        extra={"participant": participant},
    )
    return credentials


def _require_running(s3: S3Endpoint) -> None:
    if not http_ok(f"{s3.url}/healthcheck"):
        raise ServiceError(
            f"The embedded object store does not answer at {s3.url}; start it with `dataspace up`."
        )


def _stored_or_created(directory: Path, participant: str) -> str:
    """The participant's secret, creating its record on first use (0600, durable, whole)."""
    path = directory / f"{participant}.json"
    if not path.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        record = {
            "access_key": access_key_for(participant),
            "secret_key": secrets.token_urlsafe(24),
        }
        tmp = directory / f".{participant}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # A link, unlike a rename, refuses to replace: a concurrent caller's record wins.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        _fsync_directory(directory)
    return _read_record(path, participant)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_record(path: Path, participant: str) -> str:
    """The secret of a participant's record; ConfigError if the file is not one."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        secret = record["secret_key"]
        valid = record["access_key"] == access_key_for(participant)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a valid S3 user record: {exc}.") from exc
    if not valid or not isinstance(secret, str) or not secret or secret.split() != [secret]:
        raise ConfigError(
            f"{path} is not a valid S3 user record for {participant!r}; remove it and "
            "create the user again (its old keys stop working)."
        )
    return secret


def _wait_until_accepted(credentials: S3Credentials, settings: Settings) -> None:
    """Poll with a signed request under the new key until the proxy takes it."""
    from minio.error import S3Error  # noqa: PLC0415
    from urllib3.exceptions import HTTPError  # noqa: PLC0415

    from dataspace.adapters.s3 import minio_client  # noqa: PLC0415

    client = minio_client(credentials.s3)
    proxy_log = settings.logs_dir / "swift-proxy-server.log"
    deadline = time.monotonic() + PICKUP_TIMEOUT_SECONDS
    while True:
        try:
            client.list_buckets()
        except S3Error as exc:
            if exc.code not in NOT_YET_CODES:
                raise ServiceError(
                    f"The object store refused the new key {credentials.access_key}: {exc.code}."
                ) from exc
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"The embedded object store did not accept the new key "
                    f"{credentials.access_key} within {PICKUP_TIMEOUT_SECONDS:.0f} s. A stack "
                    "started before per-participant users existed reads no new users: restart "
                    f"it (`dataspace down`, `dataspace up`); otherwise see {proxy_log}."
                ) from exc
        except (HTTPError, OSError) as exc:
            raise ServiceError(
                f"The embedded object store stopped answering ({type(exc).__name__}) while "
                f"adding {credentials.access_key}; see {proxy_log}."
            ) from exc
        else:
            return
        time.sleep(PICKUP_POLL_SECONDS)


# -- the proxy side ---------------------------------------------------------------------------


def tempauth_entries(directory: Path) -> dict[str, str]:
    """Tempauth's ``user_<account>_<user>`` settings for every valid record in ``directory``.

    A file that is not a valid record is logged and left out, never fatal: one bad file must
    not lock every participant out.
    """
    entries = {}
    for path in _record_paths(directory):
        participant = path.stem
        try:
            participant_id(participant)
            secret = _read_record(path, participant)
        except (DataspaceError, OSError) as exc:
            log.warning("ignoring an S3 user record: %s", exc)
            continue
        entries[f"user_{ACCOUNT_PREFIX}{participant}_{USER_NAME}"] = f"{secret} .admin"
    return entries


def _record_paths(directory: Path) -> Iterable[Path]:
    try:
        return sorted(p for p in directory.glob("*.json") if not p.name.startswith("."))
    except OSError:
        return []


def _directory_stamp(directory: Path) -> tuple[int, int] | None:
    try:
        stat = directory.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_ino


class ReloadingUsers:
    """WSGI middleware around a tempauth instance: its users are the configured ones plus the
    participants' records, re-read on the first request after the directory changed.

    Runs in the proxy's one process; a request sees either the old or the new user table,
    never half of one. A configured user cannot be replaced by a record.
    """

    def __init__(
        self,
        auth: Any,
        directory: Path,
        parse: Callable[[dict[str, str]], dict[str, Any]],
    ) -> None:
        self.auth = auth
        self.directory = directory
        self.parse = parse
        self.configured = dict(auth.users)
        self._stamp: tuple[int, int] | None = None
        self._unsettled = True

    def __call__(self, env: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self._refresh()
        return self.auth(env, start_response)

    def _refresh(self) -> None:
        stamp = _directory_stamp(self.directory)
        if stamp == self._stamp and not self._unsettled:
            return
        now = time.time_ns()
        users = self.parse(tempauth_entries(self.directory))
        self.auth.users = {**users, **self.configured}
        self._stamp = stamp
        self._unsettled = stamp is not None and now - stamp[0] < SETTLE_NS


def filter_factory(global_conf: dict[str, str], **local_conf: str) -> Callable[[Any], Any]:
    """paste.deploy's entry: ``[filter:tempauth]`` with ``paste.filter_factory = <this>`` and
    ``participant_users_dir``; every other setting is tempauth's own."""
    from swift.common.middleware import tempauth  # noqa: PLC0415 (only the proxy needs Swift)

    directory = Path(local_conf[USERS_DIR_SETTING])
    make_auth = tempauth.filter_factory(global_conf, **local_conf)
    base = {
        key: value
        for key, value in {**global_conf, **local_conf}.items()
        if not key.startswith(("user_", "user64_"))
    }

    def parse(entries: dict[str, str]) -> dict[str, Any]:
        # Tempauth's own parser, so a record means exactly what the same line in the file would.
        users: dict[str, Any] = tempauth.TempAuth(None, {**base, **entries}).users
        return users

    return lambda app: ReloadingUsers(make_auth(app), directory, parse)
