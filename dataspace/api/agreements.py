"""Negotiations and agreements: the caller acts as itself; it sees only its own contracts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from dataspace.api.acts import ActingDep
from dataspace.api.auth import CallerDep, DatabaseDep, OperatorDep
from dataspace.controlplane import agreements as agreement_service
from dataspace.controlplane import negotiations, signing
from dataspace.controlplane.bounds import MAX_DELIVERIES
from dataspace.controlplane.participants import OPERATOR_ID
from dataspace.errors import InvalidInput
from dataspace.identity.keys import b64url_decode
from dataspace.policy.model import parse_policy

router = APIRouter(prefix="/agreements", tags=["agreements"])


class AgreementRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    product_id: str
    purpose: str = Field(description="Purpose of use (slug), e.g. supply-planning.")
    offer_id: str | None = None
    valid_until: datetime | None = Field(None, description="ISO 8601 with a timezone.")
    max_deliveries: int | None = Field(None, ge=1, le=MAX_DELIVERIES)


class CounterOffer(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    policy: dict[str, Any] = Field(description="An ODRL policy of docs/policy-profile.md.")


class Signature(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    signature: str = Field(description="base64url Ed25519 signature over the document.")
    document: dict[str, Any] | None = Field(
        None, description="Provider: the draft it signed (GET /agreements/{id}/draft)."
    )


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    # Strict: 0 or "yes" is not an answer to whether data may leave CN.
    export: StrictBool = Field(False, description="Also approve delivery out of CN (出境).")


@router.post(
    "",
    status_code=201,
    summary="Request a product under one of its offers: 201 when this opens a negotiation, "
    "200 with the open one when the same request is already open (idempotent), 409 when an "
    "open request for the offer has other terms.",
    responses={
        200: {
            "description": "The same request is already open: that negotiation.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def request_agreement(
    body: AgreementRequest, who: ActingDep, db: DatabaseDep, request: Request, response: Response
) -> dict[str, Any]:
    with who.in_hand():
        requested = negotiations.request_once(
            db,
            request.app.state.node.keys,
            consumer=who.participant_id,
            product_id=body.product_id,
            purpose=body.purpose,
            offer_id=body.offer_id,
            valid_until=body.valid_until,
            max_deliveries=body.max_deliveries,
        )
    if not requested.opened:
        response.status_code = status.HTTP_200_OK
    return requested.view.to_json()


@router.get("", summary="The caller's negotiations and agreements (the operator sees all).")
def list_agreements(who: CallerDep, db: DatabaseDep) -> list[dict[str, Any]]:
    return [view.to_json() for view in agreement_service.list_agreements(db, who.participant_id)]


@router.get("/{agreement_id}", summary="One of the caller's negotiations or agreements.")
def show(agreement_id: str, who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    return agreement_service.show(db, who.participant_id, agreement_id).to_json()


@router.post("/{agreement_id}/accept", summary="Provider: agree and finalize; consumer: accept.")
def accept(agreement_id: str, who: ActingDep, db: DatabaseDep, request: Request) -> dict[str, Any]:
    with who.in_hand():
        return negotiations.accept(
            db, request.app.state.node.keys, actor=who.participant_id, negotiation_id=agreement_id
        ).to_json()


@router.get(
    "/{agreement_id}/draft",
    summary="Provider: the agreement document to sign on its own connector.",
)
def draft(agreement_id: str, who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    return signing.draft(db, provider=who.participant_id, negotiation_id=agreement_id)


@router.post(
    "/{agreement_id}/sign",
    summary="A party's own signature: the provider's over the draft (AGREED), the consumer's "
    "over the agreed document (VERIFIED, then the hub files it: FINALIZED).",
)
def sign(
    agreement_id: str, body: Signature, who: ActingDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    keys = request.app.state.node.keys
    signature = _signature(body.signature)
    current = agreement_service.show(db, who.participant_id, agreement_id)
    with who.in_hand():
        if who.participant_id == current.provider:
            view = signing.agree(
                db,
                keys,
                provider=who.participant_id,
                negotiation_id=agreement_id,
                document=body.document,
                signature=signature,
            )
            return view.to_json()
        signing.verify(
            db, keys, consumer=who.participant_id, negotiation_id=agreement_id, signature=signature
        )
    filed = signing.finalize(
        db, keys, provider=current.provider, negotiation_id=agreement_id, recorder=OPERATOR_ID
    )
    return agreement_service.show(db, who.participant_id, filed.agreement_id).to_json()


def _signature(text: str) -> bytes:
    try:
        return b64url_decode(text)
    except InvalidInput as exc:
        raise InvalidInput(
            "The signature is not base64url; send the 64-byte Ed25519 signature."
        ) from exc


@router.post("/{agreement_id}/counter", summary="Provider: answer with a modified policy.")
def counter(
    agreement_id: str, body: CounterOffer, who: ActingDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    with who.in_hand():
        return negotiations.counter(
            db,
            request.app.state.node.keys,
            provider=who.participant_id,
            negotiation_id=agreement_id,
            policy=parse_policy(body.policy),
            artifacts=request.app.state.node.artifacts,
        ).to_json()


@router.post(
    "/{agreement_id}/counter-request", summary="Consumer: answer a counter-offer with own terms."
)
def counter_request(
    agreement_id: str, body: CounterOffer, who: ActingDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    with who.in_hand():
        return negotiations.counter_request(
            db,
            request.app.state.node.keys,
            consumer=who.participant_id,
            negotiation_id=agreement_id,
            policy=parse_policy(body.policy),
            artifacts=request.app.state.node.artifacts,
        ).to_json()


@router.post("/{agreement_id}/reject", summary="Either party declines before finalization.")
def reject(agreement_id: str, who: ActingDep, db: DatabaseDep, request: Request) -> dict[str, Any]:
    with who.in_hand():
        return negotiations.reject(
            db, request.app.state.node.keys, actor=who.participant_id, negotiation_id=agreement_id
        ).to_json()


@router.post("/{agreement_id}/approve", summary="Operator: approve important/core-grade terms.")
def approve(
    agreement_id: str, body: Approval, _operator: OperatorDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    return negotiations.approve(
        db, request.app.state.node.keys, negotiation_id=agreement_id, export=body.export
    ).to_json()


@router.post("/{agreement_id}/revoke", summary="Provider or operator: end an agreement at once.")
def revoke(agreement_id: str, who: ActingDep, db: DatabaseDep, request: Request) -> dict[str, Any]:
    with who.in_hand():
        return agreement_service.revoke(
            db, request.app.state.node.keys, actor=who.participant_id, agreement_id=agreement_id
        ).to_json()
