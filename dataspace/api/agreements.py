"""Negotiations and agreements: the caller acts as itself; it sees only its own contracts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from dataspace.api.auth import CallerDep, DatabaseDep, OperatorDep
from dataspace.controlplane import agreements as agreement_service
from dataspace.controlplane import negotiations
from dataspace.policy.model import parse_policy

router = APIRouter(prefix="/agreements", tags=["agreements"])


class AgreementRequest(BaseModel):
    product_id: str
    purpose: str = Field(description="Purpose of use (slug), e.g. supply-planning.")
    offer_id: str | None = None
    valid_until: datetime | None = Field(None, description="ISO 8601 with a timezone.")
    max_deliveries: int | None = Field(None, ge=1)


class CounterOffer(BaseModel):
    policy: dict[str, Any] = Field(description="An ODRL policy of docs/policy-profile.md.")


class Approval(BaseModel):
    export: bool = Field(False, description="Also approve delivery out of CN (出境).")


@router.post("", status_code=201, summary="Request a product under one of its offers.")
def request_agreement(
    body: AgreementRequest, who: CallerDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    return negotiations.request(
        db,
        request.app.state.node.keys,
        consumer=who.participant_id,
        product_id=body.product_id,
        purpose=body.purpose,
        offer_id=body.offer_id,
        valid_until=body.valid_until,
        max_deliveries=body.max_deliveries,
    ).to_json()


@router.get("", summary="The caller's negotiations and agreements (the operator sees all).")
def list_agreements(who: CallerDep, db: DatabaseDep) -> list[dict[str, Any]]:
    return [view.to_json() for view in agreement_service.list_agreements(db, who.participant_id)]


@router.get("/{agreement_id}", summary="One of the caller's negotiations or agreements.")
def show(agreement_id: str, who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    return agreement_service.show(db, who.participant_id, agreement_id).to_json()


@router.post("/{agreement_id}/accept", summary="Provider: agree and finalize; consumer: accept.")
def accept(agreement_id: str, who: CallerDep, db: DatabaseDep, request: Request) -> dict[str, Any]:
    return negotiations.accept(
        db, request.app.state.node.keys, actor=who.participant_id, negotiation_id=agreement_id
    ).to_json()


@router.post("/{agreement_id}/counter", summary="Provider: answer with a modified policy.")
def counter(
    agreement_id: str, body: CounterOffer, who: CallerDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    return negotiations.counter(
        db,
        request.app.state.node.keys,
        provider=who.participant_id,
        negotiation_id=agreement_id,
        policy=parse_policy(body.policy),
        artifacts=request.app.state.node.artifacts,
    ).to_json()


@router.post("/{agreement_id}/reject", summary="Either party declines before finalization.")
def reject(agreement_id: str, who: CallerDep, db: DatabaseDep, request: Request) -> dict[str, Any]:
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
def revoke(agreement_id: str, who: CallerDep, db: DatabaseDep, request: Request) -> dict[str, Any]:
    return agreement_service.revoke(
        db, request.app.state.node.keys, actor=who.participant_id, agreement_id=agreement_id
    ).to_json()
