"""Participants: the registry that every other party checks signatures against."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from dataspace.api.auth import CallerDep, DatabaseDep, OperatorDep
from dataspace.controlplane import participants as service
from dataspace.identity.membership import Registration

router = APIRouter(prefix="/participants", tags=["participants"])


class RegistrationRequest(BaseModel):
    participant_id: str = Field(description="A lowercase slug, e.g. sany-heavy.")
    name: str
    uscc: str = Field(description="统一社会信用代码: 18 characters, GB 32100-2015.")
    roles: list[str] = Field(min_length=1)
    region: str = Field(description="ISO 3166-2, e.g. CN-JS.")
    industry_chains: list[str] = Field(default_factory=list)


@router.get("", summary="Every registered participant (public registry).")
def list_participants(_who: CallerDep, db: DatabaseDep) -> list[dict[str, Any]]:
    return [view.to_json() for view in service.list_participants(db)]


@router.get("/{participant_id}", summary="One participant, with its public key.")
def show_participant(participant_id: str, _who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    return service.show_participant(db, participant_id).to_json()


@router.post("", status_code=201, summary="Register a participant (operator; keys made here).")
def register(
    body: RegistrationRequest, _operator: OperatorDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    registration = Registration(
        participant_id=body.participant_id,
        name=body.name,
        uscc=body.uscc,
        roles=frozenset(body.roles),  # type: ignore[arg-type]  # validated by Registration
        region=body.region,
        industry_chains=frozenset(body.industry_chains),
    )
    return service.register(db, request.app.state.node.keys, registration).to_json()


@router.post("/{participant_id}/admit", summary="Admit: the operator signs a membership.")
def admit(
    participant_id: str, _operator: OperatorDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    return service.admit(db, request.app.state.node.keys, participant_id).to_json()


@router.post("/{participant_id}/suspend", summary="Suspend a participant (operator).")
def suspend(
    participant_id: str, _operator: OperatorDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    return service.suspend(db, request.app.state.node.keys, participant_id).to_json()


@router.post("/{participant_id}/reinstate", summary="Reinstate a suspended participant.")
def reinstate(
    participant_id: str, _operator: OperatorDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    return service.reinstate(db, request.app.state.node.keys, participant_id).to_json()
