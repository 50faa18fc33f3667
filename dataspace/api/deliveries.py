"""Deliveries on the hub: what a subscriber has due, the provider's authorization to grant
one, and the subscriber's signed receipt.

The hub hands out no download URL: the provider's connector does, from its own bucket, after
asking :func:`authorization` whether it may at that moment (ADR 0007). Someone else's
delivery reads like a missing one (404). Rules live in :mod:`dataspace.controlplane.deliveries`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from dataspace.api.acts import ActingDep
from dataspace.api.auth import CallerDep, DatabaseDep
from dataspace.controlplane import deliveries as service
from dataspace.controlplane import receipts
from dataspace.controlplane.bounds import MAX_COUNT
from dataspace.errors import Conflict, InvalidInput, Unauthorized
from dataspace.identity.keys import b64url_decode

router = APIRouter(prefix="/deliveries", tags=["deliveries"])


class ReceiptRequest(BaseModel):
    """The subscriber's receipt: what it landed, and its signature over receipt_payload."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    sha256: str
    rows: int = Field(ge=0, le=MAX_COUNT)
    landed_at: datetime = Field(alias="landedAt")
    signature: str = Field(description="Ed25519 over receipt_payload(...), base64url.")


@router.get("/due", summary="The caller's deliveries still due (a subscriber's resync).")
def due(who: CallerDep, db: DatabaseDep) -> list[dict[str, Any]]:
    return [view.to_json() for view in service.due_deliveries(db, subscriber=who.participant_id)]


@router.get("/{delivery_id}", summary="One delivery of the caller (subscriber or provider).")
def show(delivery_id: str, who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    return service.delivery_of(
        db, participant=who.participant_id, delivery_id=delivery_id
    ).to_json()


@router.get(
    "/{delivery_id}/authorization",
    summary="The provider asks whether it may grant the subscriber this delivery now.",
)
def authorization(
    delivery_id: str,
    who: CallerDep,
    db: DatabaseDep,
    request: Request,
    subscriber: str = Query(description="The participant that asked the provider for it."),
) -> dict[str, Any]:
    try:
        allowed = service.authorize(
            db,
            request.app.state.node.keys,
            provider=who.participant_id,
            subscriber=subscriber,
            delivery_id=delivery_id,
        )
    except Conflict as ended:
        # To the provider an ended agreement is a refusal to hand the delivery out.
        raise Unauthorized(str(ended)) from ended
    return allowed.to_json()


@router.post("/{delivery_id}/receipt", summary="The subscriber's signed receipt (an act).")
def receipt(
    delivery_id: str, body: ReceiptRequest, who: ActingDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    try:
        signature = b64url_decode(body.signature)
    except (InvalidInput, ValueError) as exc:
        raise InvalidInput("The receipt signature is not base64url; send it encoded.") from exc
    with who.in_hand():
        landed = receipts.receipt(
            db,
            request.app.state.node.keys,
            subscriber=who.participant_id,
            delivery_id=delivery_id,
            sha256=body.sha256,
            rows=body.rows,
            landed_at=body.landed_at,
            signature=signature,
        )
    return landed.to_json()
