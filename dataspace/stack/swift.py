"""The embedded S3 store: a single-node OpenStack Swift with s3api and tempauth.

Everything lives under ``<state_dir>/swift``: generated configuration and rings in ``etc/``,
objects in ``data/d1`` (kept across ``down``/``up``). The proxy listens on the S3 port; the
object, container and account servers take the next three ports. The object expirer runs
with the stack so that the segments of deleted multipart objects are reclaimed. Besides the
stack's own S3 user, the proxy's tempauth takes each participant's own user from
``<state_dir>/s3-users`` as it is added (stack/s3_users.py).
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from dataspace.config import EMBEDDED_CREDENTIALS_FILE, EMBEDDED_S3_USER, Settings
from dataspace.errors import ServiceError
from dataspace.stack import s3_users
from dataspace.stack.components import Component, Service, http_ok, venv_script

# The expirer finds queued deletions only in containers the account server has heard of,
# and the container updater is what tells it: both run often so reclaiming takes seconds.
EXPIRER_INTERVAL_SECONDS = 10
CONTAINER_UPDATER_INTERVAL_SECONDS = 10
# Each sweep forks this many workers (default 4): one is plenty for one device, and the
# default burnt a core's worth of CPU on a two-core machine.
CONTAINER_UPDATER_CONCURRENCY = 1
BACKENDS = (("object", 1), ("container", 2), ("account", 3))


class SwiftLayout:
    """Paths and ports of the embedded Swift, derived from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.state_dir / "swift"
        self.etc = self.root / "etc"
        self.devices = self.root / "data"
        self.proxy_port = settings.s3_port

    def port(self, server: str) -> int:
        return self.proxy_port + dict(BACKENDS)[server]

    def conf(self, name: str) -> Path:
        return self.etc / f"{name}.conf"


def _private_json(path: Path, make: dict[str, str]) -> dict[str, str]:
    """Read a small secret file, creating it (mode 0600) on first use."""
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(make, handle)
    return make


def _credentials(settings: Settings) -> dict[str, str]:
    return _private_json(
        settings.state_dir / EMBEDDED_CREDENTIALS_FILE,
        {"access_key": EMBEDDED_S3_USER, "secret_key": secrets.token_urlsafe(24)},
    )


def _check_xattrs(directory: Path) -> None:
    probe = directory / ".xattr-probe"
    probe.touch()
    try:
        os.setxattr(probe, "user.dataspace", b"1")
    except OSError as exc:
        raise ServiceError(
            f"The filesystem of {directory} does not support extended attributes, which "
            "Swift needs; set DATASPACE_STATE_DIR to a directory on ext4 or xfs."
        ) from exc
    finally:
        probe.unlink(missing_ok=True)


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _default_section(layout: SwiftLayout, port: int) -> str:
    # workers = 0: each server is one process; the proxy's cache relies on it (ADR 0014).
    return (
        "[DEFAULT]\n"
        "bind_ip = 127.0.0.1\n"
        f"bind_port = {port}\n"
        f"devices = {layout.devices.resolve()}\n"
        "mount_check = false\n"
        f"swift_dir = {layout.etc.resolve()}\n"
        f"user = {getpass.getuser()}\n"
        "workers = 0\n"
        "log_level = INFO\n"
        "log_name = swift\n"
        f"recon_cache_path = {layout.root / 'recon'}\n"
    )


def _backend_conf(layout: SwiftLayout, server: str) -> str:
    conf = (
        _default_section(layout, layout.port(server))
        + f"\n[pipeline:main]\npipeline = healthcheck {server}-server\n"
        + f"\n[app:{server}-server]\nuse = egg:swift#{server}\n"
        + "\n[filter:healthcheck]\nuse = egg:swift#healthcheck\n"
    )
    if server == "container":
        conf += (
            f"\n[container-updater]\ninterval = {CONTAINER_UPDATER_INTERVAL_SECONDS}\n"
            f"concurrency = {CONTAINER_UPDATER_CONCURRENCY}\n"
        )
    return conf


def _proxy_conf(layout: SwiftLayout, secret: str) -> str:
    account, user = EMBEDDED_S3_USER.split(":")
    filters = {
        "catch_errors": "",
        "gatekeeper": "",
        "healthcheck": "",
        "proxy_logging": "",
        "listing_formats": "",
        "copy": "",
        "slo": "",
        "dlo": "",
        "versioned_writes": "",
        "symlink": "",
        "s3api": (
            f"location = {layout.settings.s3_region}\n"
            "allow_multipart_uploads = true\n"
            "force_swift_request_proxy_log = false\n"
        ),
    }
    pipeline = (
        "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
        "s3api tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server"
    )
    sections = [
        _default_section(layout, layout.proxy_port),
        f"[pipeline:main]\npipeline = {pipeline}\n",
        "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
        "allow_account_management = true\n",
    ]
    for name, extra in filters.items():
        section = name.replace("_", "-") if name == "proxy_logging" else name
        sections.append(f"[filter:{section}]\nuse = egg:swift#{name}\n{extra}")
    # Swift's memcache middleware in the proxy's own process (stack/swift_cache.py, ADR 0014).
    sections.append(
        "[filter:cache]\npaste.filter_factory = dataspace.stack.swift_cache:filter_factory\n"
    )
    # Tempauth that also takes the participants' users as they are added (stack/s3_users.py).
    sections.append(
        "[filter:tempauth]\npaste.filter_factory = dataspace.stack.s3_users:filter_factory\n"
        f"{s3_users.USERS_DIR_SETTING} = {s3_users.users_dir(layout.settings).resolve()}\n"
        f"user_{account}_{user} = {secret} .admin\n"
    )
    return "\n".join(sections)


def _expirer_conf(layout: SwiftLayout) -> str:
    # A legacy object-expirer.conf carries its own internal-client pipeline.
    return (
        _default_section(layout, layout.proxy_port)
        + f"\n[object-expirer]\ninterval = {EXPIRER_INTERVAL_SECONDS}\n"
        + "\n[pipeline:main]\npipeline = catch_errors proxy-logging proxy-server\n"
        + "\n[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
        + "\n[filter:catch_errors]\nuse = egg:swift#catch_errors\n"
        + "\n[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n"
    )


def _swift_conf(layout: SwiftLayout) -> str:
    hashes = _private_json(
        layout.root / "hash.json",
        {"prefix": secrets.token_hex(16), "suffix": secrets.token_hex(16)},
    )
    return (
        "[swift-hash]\n"
        f"swift_hash_path_prefix = {hashes['prefix']}\n"
        f"swift_hash_path_suffix = {hashes['suffix']}\n"
        "\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n"
    )


def _build_rings(layout: SwiftLayout) -> None:
    specs = [f"{server}={layout.port(server)}" for server, _ in BACKENDS]
    result = subprocess.run(
        [sys.executable, "-m", "dataspace.stack.swift_rings", str(layout.etc), *specs],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"Building the Swift rings in {layout.etc} failed: "
            f"{result.stderr.strip().splitlines()[-1:]}"
        )


def prepare(layout: SwiftLayout) -> None:
    """Write configuration and rings; create the device directory. Idempotent."""
    for directory in (layout.etc, layout.devices / "d1", layout.root / "recon"):
        directory.mkdir(parents=True, exist_ok=True)
    _check_xattrs(layout.devices / "d1")
    secret = _credentials(layout.settings)["secret_key"]
    _write(layout.etc / "swift.conf", _swift_conf(layout))
    for server, _ in BACKENDS:
        _write(layout.conf(f"{server}-server"), _backend_conf(layout, server))
    _build_rings(layout)
    _write(layout.conf("proxy-server"), _proxy_conf(layout, secret))
    _write(layout.conf("object-expirer"), _expirer_conf(layout))


def _server(layout: SwiftLayout, name: str, port: int) -> Component:
    conf = layout.conf(name)
    health = f"http://127.0.0.1:{port}/healthcheck"
    return Component(
        name=f"swift-{name}",
        label=f"The Swift {name.replace('-', ' ')}",
        argv=lambda: (venv_script(f"swift-{name}"), str(conf), "--verbose"),
        port=port,
        ready=lambda: http_ok(health),
    )


def _daemon(layout: SwiftLayout, name: str, entry: str, conf_name: str) -> Component:
    """A background Swift daemon: it listens nowhere, so alive after start-up means ready."""
    conf = layout.conf(conf_name)
    return Component(
        name=f"swift-{name}",
        label=f"The Swift {name.replace('-', ' ')}",
        argv=lambda: (
            sys.executable,
            "-m",
            "dataspace.stack.swift_daemon",
            str(layout.etc),
            entry,
            str(conf),
            "--verbose",
        ),
        port=0,
        ready=lambda: True,
    )


def service(settings: Settings) -> Service:
    layout = SwiftLayout(settings)
    components = [_server(layout, f"{name}-server", layout.port(name)) for name, _ in BACKENDS]
    components.append(_server(layout, "proxy-server", layout.proxy_port))
    components.append(
        _daemon(layout, "container-updater", "swift.container.updater:main", "container-server")
    )
    components.append(_daemon(layout, "object-expirer", "swift.obj.expirer:main", "object-expirer"))
    proxy_health = f"http://127.0.0.1:{layout.proxy_port}/healthcheck"
    return Service(
        name="object-store",
        label="S3 object store (Swift)",
        endpoint=f"http://127.0.0.1:{layout.proxy_port}",
        components=tuple(components),
        prepare=lambda: prepare(layout),
        healthy=lambda: http_ok(proxy_health),
    )
