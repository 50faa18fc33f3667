"""Releases, published from a provider's connector: the hub reserves the version, names the
recipients and records the provider's manifest; the bytes stay in the provider's bucket.

A publish from a connector is, in order: ``POST /releases/reservations`` (the next version,
reserved), ``GET /releases/{product}/{version}/recipients`` (each agreement's view or why
not), ``POST /releases/reservations/renew`` while it writes, and ``POST /releases``, the
manifest (recorded once, with the provider's signed request as proof in the ledger; the
outbox is relayed once). ``POST /releases/reservations/give-back`` ends a failed publish.

Wiring only: the rules are :mod:`dataspace.controlplane.releases` and
:mod:`dataspace.controlplane.release_manifests`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from dataspace.api.acts import ActingDep
from dataspace.api.auth import CallerDep, DatabaseDep
from dataspace.controlplane import release_manifests as manifests
from dataspace.controlplane import releases, reservations
from dataspace.controlplane.bounds import MAX_COUNT, MAX_VERSION
from dataspace.controlplane.releases import Delivery, QualityFacts, ReleasePlan
from dataspace.dataplane.layout import StoredObject
from dataspace.errors import Unauthorized
from dataspace.store import repository
from dataspace.store.types import utcnow

router = APIRouter(prefix="/releases", tags=["releases"])


class ReservationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    product: str
    mode: Literal["snapshot", "append"] = "snapshot"


class HeldReservation(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    product: str
    reservation: str = Field(description="The token POST /releases/reservations answered.")


class StoredBody(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    key: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rows: int = Field(ge=0, le=MAX_COUNT)
    bytes: int = Field(ge=0, le=MAX_COUNT)

    def stored(self) -> StoredObject:
        return StoredObject(self.key, self.sha256, self.rows, self.bytes)


class DeliveryBody(StoredBody):
    agreement_id: str = Field(alias="agreementId")
    subscriber: str


class QualityBody(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    evaluated: int = Field(ge=0, le=MAX_COUNT)
    failed: int = Field(ge=0, le=MAX_COUNT)
    failed_checks: list[str] = Field(default_factory=list, alias="failedChecks")


class ManifestBody(BaseModel):
    """A provider's release manifest: what its connector wrote for a reserved version."""

    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    product: str
    version: int = Field(ge=1, le=MAX_VERSION)
    reservation: str
    mode: Literal["snapshot", "append"]
    status: Literal["accepted", "quarantined"]
    release: StoredBody
    deliveries: list[DeliveryBody] = Field(default_factory=list)
    quality: QualityBody | None = None
    report: StoredBody | None = None


@router.post("/reservations", status_code=201, summary="Reserve the next version to publish.")
def reserve(
    body: ReservationRequest, who: ActingDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    keys = request.app.state.node.keys
    with who.in_hand():
        plan = releases.plan_release(
            db, keys, product=body.product, provider=who.participant_id, mode=body.mode,
            now=utcnow(),
        )  # fmt: skip
    return manifests.plan_to_json(plan)


@router.post("/reservations/renew", summary="Keep a reservation while the release is written.")
def renew(body: HeldReservation, who: ActingDep, db: DatabaseDep) -> dict[str, str]:
    _require_owner(db, body.product, who.participant_id)
    reservations.renew(db, body.product, body.reservation)
    return {"status": "renewed"}


@router.post("/reservations/give-back", summary="End a reservation whose publish failed.")
def give_back(body: HeldReservation, who: ActingDep, db: DatabaseDep) -> dict[str, str]:
    _require_owner(db, body.product, who.participant_id)
    reservations.give_back(db, body.product, body.reservation)
    return {"status": "given back"}


@router.get(
    "/{product}/{version}/recipients",
    summary="Each agreement on the product: its subscriber's view, or why it receives nothing.",
)
def recipients_of(
    product: str,
    version: Annotated[int, Path(ge=1, le=MAX_VERSION)],
    who: CallerDep,
    db: DatabaseDep,
    request: Request,
) -> list[dict[str, Any]]:
    plan = ReleasePlan(product, who.participant_id, version, "snapshot", "", "")
    _require_owner(db, product, who.participant_id)
    found = releases.recipients(db, request.app.state.node.keys, plan, utcnow())
    return [manifests.recipient_to_json(r) for r in found]


@router.post("", summary="Record a provider's release manifest (once) and announce it.")
def record(body: ManifestBody, who: ActingDep, db: DatabaseDep, request: Request) -> dict[str, Any]:
    node = request.app.state.node
    plan = manifests.manifest_plan(
        db, product=body.product, provider=who.participant_id, version=body.version,
        mode=body.mode, reservation=body.reservation,
    )  # fmt: skip
    with who.in_hand():
        recorded = manifests.record_manifest(db, node.keys, _manifest(plan, body), now=utcnow())
    flushed = node.flush_outbox()
    return {
        **manifests.record_to_json(recorded),
        "eventsSent": flushed.sent,
        "eventsPending": flushed.pending,
        "relayError": flushed.error,
    }


def _manifest(plan: ReleasePlan, body: ManifestBody) -> manifests.ReleaseManifest:
    quality = body.quality
    return manifests.ReleaseManifest(
        plan,
        body.status,
        body.release.stored(),
        tuple(Delivery(d.agreement_id, d.subscriber, d.stored()) for d in body.deliveries),
        None
        if quality is None
        else QualityFacts(quality.evaluated, quality.failed, tuple(quality.failed_checks)),
        None if body.report is None else body.report.stored(),
    )


def _require_owner(db: DatabaseDep, product: str, participant: str) -> None:
    with db.transaction(read_only=True) as session:
        owner = repository.get_product(session, product).owner_id
    if owner != participant:
        raise Unauthorized(f"Only the owner of {product!r} publishes its releases.")
