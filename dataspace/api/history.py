"""History from a given version: the caller, a subscriber, asks for releases it missed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from dataspace.api.auth import CallerDep, DatabaseDep
from dataspace.controlplane.bounds import MAX_VERSION
from dataspace.publishing.history import deliver_history

router = APIRouter(prefix="/products", tags=["deliveries"])


class HistoryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    from_version: int = Field(
        description="The first version wanted (versions start at 1).", le=MAX_VERSION
    )


@router.post(
    "/{product_id}/history",
    summary="Subscriber: deliver the releases from a version on not yet delivered to it.",
)
def history(
    product_id: str, body: HistoryRequest, who: CallerDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    return deliver_history(
        request.app.state.node,
        subscriber=who.participant_id,
        product_id=product_id,
        from_version=body.from_version,
    ).to_json()
