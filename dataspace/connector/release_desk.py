"""A provider's connector publishing through the hub: the data plane here, the record there.

:func:`publish_from_connector` runs the same publish as a single node
(:func:`dataspace.publishing.publish.publish`) on the connector's own node (its schemas,
its bucket and S3 credentials, its mask secret) with :class:`HubDesk` as the control plane:

- the version is reserved at the hub (``POST /releases/reservations``); a hub that cannot be
  reached then fails the publish with one sentence, before anything is written;
- the recipients and their views come from the hub, the salts of hash masks from the
  connector's own secret; the release and views are written into the provider's bucket;
- the outcome goes to the hub as a signed manifest (``POST /releases``). When the hub cannot
  be reached then, the manifest is *held*: written atomically to
  ``<connector>/held/<product>@<version>.json`` and sent by :func:`send_held`, which every
  publish calls first and ``dataspace connector flush`` calls on demand. The hub records a
  manifest once, so sending one again after a lost answer announces nothing twice.

A held manifest that the hub refuses (its agreements changed meanwhile, another publish took
the version) is moved to ``held/refused/`` with the hub's reason: its objects stay
unannounced in the bucket, and publishing again slices for the agreements in force.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dataspace.connector.state import FILE_MODE, Connector
from dataspace.controlplane import release_manifests as manifests
from dataspace.controlplane.public_releases import PublicReleaseAuthorization
from dataspace.controlplane.releases import Delivery, QualityFacts, Recipient, ReleasePlan
from dataspace.dataplane.layout import StoredObject
from dataspace.errors import DataspaceError, InvalidInput, ServiceError, Unauthorized
from dataspace.publishing.desk import Recorded
from dataspace.publishing.publish import Progress, PublishSummary, publish

log = logging.getLogger(__name__)

HELD_DIR = "held"
REFUSED_DIR = "refused"
MANIFEST_PATH = "/releases"


@dataclass(frozen=True)
class HeldReport:
    """What :func:`send_held` did: manifests recorded, refused (with the hub's reason), and
    still held because the hub cannot be reached."""

    sent: tuple[str, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()
    waiting: int = 0


class HubDesk:
    """The hub as a publish's control plane (:class:`~dataspace.publishing.desk.ReleaseDesk`),
    every request signed by the connector's participant. Not thread-safe (one publish)."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._hub = connector.hub

    def plan(
        self,
        product_id: str,
        provider: str,
        mode: str,
        now: datetime,
        authorization: PublicReleaseAuthorization | None = None,
    ) -> ReleasePlan:
        if authorization is not None:
            # The report lives in the control plane that recorded the desensitization; the
            # hub does not carry it to a connector yet, so public data is released on the
            # node where the authorized-operation path runs (its LocalDesk).
            raise InvalidInput(
                "A public-data release is published where the authorized-operation path "
                "recorded its desensitization (`dataspace application release`), not from a "
                "connector."
            )
        if provider != self._connector.participant:
            raise Unauthorized(
                f"This connector acts for {self._connector.participant!r}, not {provider!r}."
            )
        answer = self._hub.post("/releases/reservations", {"product": product_id, "mode": mode})
        return manifests.plan_from_json(answer)

    def recipients(self, plan: ReleasePlan, now: datetime) -> list[Recipient]:
        answer = self._hub.get(f"/releases/{plan.product_id}/{plan.version}/recipients")
        if not isinstance(answer, list):
            raise InvalidInput("The hub answered recipients that are not a list.")
        return [manifests.recipient_from_json(item) for item in answer]

    def renew(self, plan: ReleasePlan) -> None:
        self._quietly("/releases/reservations/renew", plan)

    def give_back(self, plan: ReleasePlan) -> None:
        self._quietly("/releases/reservations/give-back", plan)

    def record_publication(
        self,
        plan: ReleasePlan,
        release: StoredObject,
        deliveries: Sequence[Delivery],
        now: datetime,
    ) -> Recorded:
        views = [
            {"agreementId": d.agreement_id, "subscriber": d.subscriber, **_stored(d.stored)}
            for d in deliveries
        ]
        return self._send(manifest_of(plan, "accepted", release, deliveries=views))

    def record_quarantine(
        self,
        plan: ReleasePlan,
        rejected: StoredObject,
        report: StoredObject,
        quality: QualityFacts,
        now: datetime,
    ) -> Recorded:
        facts = {
            "evaluated": quality.evaluated,
            "failed": quality.failed,
            "failedChecks": list(quality.failed_checks),
        }
        manifest = manifest_of(plan, "quarantined", rejected, quality=facts, report=_stored(report))
        return self._send(manifest)

    def _send(self, manifest: dict[str, Any]) -> Recorded:
        try:
            answer = self._hub.post(MANIFEST_PATH, manifest)
        except ServiceError as exc:
            path = hold(self._connector.directory, manifest)
            log.warning(
                "the hub is away; the manifest is held in %s (%s)",
                path, exc,
                extra={"product": manifest["product"], "version": manifest["version"]},
            )  # fmt: skip
            return Recorded(held=True)
        return _recorded(answer)

    def _quietly(self, path: str, plan: ReleasePlan) -> None:
        """A reservation request the publish does not wait for: a hub that is away lets the
        reservation expire by itself."""
        try:
            self._hub.post(path, {"product": plan.product_id, "reservation": plan.reservation})
        except ServiceError as exc:
            log.warning("%s of %s v%s failed: %s", path, plan.product_id, plan.version, exc)


def publish_from_connector(
    connector: Connector,
    *,
    product_id: str,
    source: Path,
    mode: str = "snapshot",
    progress: Progress | None = None,
) -> PublishSummary:
    """Send what is held, then publish ``source`` as the next release of ``product_id``."""
    send_held(connector)
    return publish(
        connector.node, product_id=product_id, provider=connector.participant, source=source,
        mode=mode, progress=progress, desk=HubDesk(connector),
    )  # fmt: skip


def manifest_of(
    plan: ReleasePlan, status: str, release: StoredObject, **parts: Any
) -> dict[str, Any]:
    """The JSON of a release manifest (``POST /releases``); ``product`` names the product,
    which is how the ledger ties the provider's signed manifest to its entries."""
    return {
        "product": plan.product_id,
        "version": plan.version,
        "reservation": plan.reservation,
        "mode": plan.mode,
        "status": status,
        "release": _stored(release),
        **parts,
    }


# -- held manifests -------------------------------------------------------------------------


def held_dir(directory: Path) -> Path:
    return directory / HELD_DIR


def hold(directory: Path, manifest: dict[str, Any]) -> Path:
    """Keep ``manifest`` until the hub is back: written atomically, named by its product and
    version, so holding it twice keeps one file."""
    folder = held_dir(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{manifest['product']}@{int(manifest['version'])}.json"
    partial = path.with_suffix(".json.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(manifest, out, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    return path


def held(directory: Path) -> list[Path]:
    """The held manifests, oldest version of each product first."""

    def order(path: Path) -> tuple[str, int]:
        product, _, version = path.stem.rpartition("@")
        return product, int(version) if version.isdigit() else 0

    return sorted(held_dir(directory).glob("*@*.json"), key=order)


def send_held(connector: Connector) -> HeldReport:
    """Send every held manifest to the hub; stops at the first the hub cannot take now.

    Idempotent: the hub records a manifest once, and a file is removed only after the hub
    answered it.
    """
    sent: list[str] = []
    refused: list[tuple[str, str]] = []
    waiting = held(connector.directory)
    while waiting:
        path = waiting[0]
        try:
            connector.hub.post(MANIFEST_PATH, json.loads(path.read_text(encoding="utf-8")))
        except ServiceError as exc:
            log.info("%d held manifests wait for the hub: %s", len(waiting), exc)
            break
        except (DataspaceError, ValueError) as exc:
            refused.append((path.stem, str(exc)))
            _set_aside(path, str(exc))
        else:
            sent.append(path.stem)
            path.unlink()
        waiting.pop(0)
    return HeldReport(tuple(sent), tuple(refused), len(waiting))


def _set_aside(path: Path, reason: str) -> None:
    log.warning("the hub refused the held manifest %s: %s", path.name, reason)
    folder = path.parent / REFUSED_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / f"{path.stem}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    path.replace(folder / path.name)


# -- helpers --------------------------------------------------------------------------------


def _stored(stored: StoredObject) -> dict[str, Any]:
    return {"key": stored.key, "sha256": stored.sha256, "rows": stored.rows, "bytes": stored.bytes}


def _recorded(answer: Any) -> Recorded:
    if not isinstance(answer, dict):
        raise InvalidInput("The hub answered a manifest with something that is not a record.")
    return Recorded(
        manifests.late_from_json(answer),
        int(answer.get("eventsSent", 0)),
        int(answer.get("eventsPending", 0)),
        answer.get("relayError"),
    )
