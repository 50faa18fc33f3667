"""Participants: the registry that every other party checks signatures against."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataspace.api.acts import registration_act, request_body
from dataspace.api.auth import AnyStandingDep, CallerDep, DatabaseDep, OperatorDep, bearer
from dataspace.controlplane import participants as service
from dataspace.controlplane import standing
from dataspace.controlplane.acting import acting
from dataspace.controlplane.read_models import ParticipantView
from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity.membership import Registration
from dataspace.node import Node
from dataspace.operations import kafka_principals

router = APIRouter(prefix="/participants", tags=["participants"])


class RegistrationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    participant_id: str = Field(description="A lowercase slug, e.g. sany-heavy.")
    name: str
    uscc: str = Field(description="统一社会信用代码: 18 characters, GB 32100-2015.")
    roles: list[str] = Field(min_length=1)
    region: str = Field(description="ISO 3166-2, e.g. CN-JS.")
    industry_chains: list[str] = Field(default_factory=list)


class ConnectorRegistration(BaseModel):
    """What a connector sends to register its participant, signed with the new key."""

    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, not ignored

    id: str = Field(description="A lowercase slug, e.g. sany-heavy.")
    name: str
    uscc: str = Field(description="统一社会信用代码: 18 characters, GB 32100-2015.")
    roles: list[str] = Field(min_length=1)
    region: str = Field(description="ISO 3166-2, e.g. CN-JS.")
    industry_chains: list[str] = Field(default_factory=list)
    public_key: str = Field(description="The connector's Ed25519 public key, base64url.")
    endpoint: str | None = Field(None, description="The connector's base URL.", max_length=1024)
    custody: str = Field("connector", description="connector, or hosted:<hosting service>.")


@router.post(
    "/registrations",
    status_code=201,
    summary="A connector registers its participant, signed with the participant's new key.",
    # The route reads the raw body (the act signs its bytes); the document still names it.
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": ConnectorRegistration.model_json_schema()}}}},
)  # fmt: skip
def register_connector(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    raw: Annotated[bytes, Depends(request_body)],
    db: DatabaseDep,
) -> dict[str, Any]:
    if credentials is None:  # who signs is asked before what the body says
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Sign the registration: Authorization: Bearer <act made with the new key>.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        body = ConnectorRegistration.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"The registration's {where}: {first['msg']}.") from exc
    # Proof of possession: the act must verify against the key the registration declares.
    signed = registration_act(service.load_public_key_b64(body.public_key))(
        request, credentials, raw, db
    )
    if signed.act.actor != body.id:
        raise Unauthorized(
            f"The registration is signed as {signed.act.actor!r} but registers {body.id!r}; "
            "a connector registers only its own participant."
        )
    registration = Registration(
        participant_id=body.id,
        name=body.name,
        uscc=body.uscc,
        roles=frozenset(body.roles),  # type: ignore[arg-type]  # validated by Registration
        region=body.region,
        industry_chains=frozenset(body.industry_chains),
    )
    with acting(signed.act, signed.body):
        view = service.register_connector(
            db,
            request.app.state.node.keys,
            registration,
            public_key=body.public_key,
            endpoint=body.endpoint,
            custody=body.custody,
        )
    return view.to_json()


@router.get(
    "/{participant_id}/credential",
    summary="The membership credential the operator signed (after admission).",
)
def credential(participant_id: str, who: AnyStandingDep, db: DatabaseDep) -> dict[str, Any]:
    standing.require_standing(who.participant_id, who.status, reading=participant_id)
    return service.credential(db, participant_id)


@router.get(
    "/{participant_id}/kafka-credentials",
    summary="The participant's own Kafka principal (itself only, while admitted).",
)
def kafka_credentials(participant_id: str, who: AnyStandingDep, request: Request) -> dict[str, Any]:
    if who.participant_id != participant_id:
        raise Unauthorized(f"Only {participant_id} may fetch its own Kafka credentials.")
    standing.require_standing(who.participant_id, who.status)
    return kafka_principals.credentials(request.app.state.node, participant_id)


@router.get("", summary="Every registered participant (public registry).")
def list_participants(_who: CallerDep, db: DatabaseDep) -> list[dict[str, Any]]:
    return [view.to_json() for view in service.list_participants(db)]


@router.get("/{participant_id}", summary="One participant, with its public key.")
def show_participant(participant_id: str, who: AnyStandingDep, db: DatabaseDep) -> dict[str, Any]:
    # A pending or suspended connector polls its own record to learn that it was admitted.
    standing.require_standing(who.participant_id, who.status, reading=participant_id)
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
    node = request.app.state.node
    return _with_kafka_access(node, service.admit(db, node.keys, participant_id))


@router.post("/{participant_id}/suspend", summary="Suspend a participant (operator).")
def suspend(
    participant_id: str, _operator: OperatorDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    node = request.app.state.node
    return _with_kafka_access(node, service.suspend(db, node.keys, participant_id))


@router.post("/{participant_id}/reinstate", summary="Reinstate a suspended participant.")
def reinstate(
    participant_id: str, _operator: OperatorDep, db: DatabaseDep, request: Request
) -> dict[str, Any]:
    node = request.app.state.node
    return _with_kafka_access(node, service.reinstate(db, node.keys, participant_id))


def _with_kafka_access(node: Node, view: ParticipantView) -> dict[str, Any]:
    """The participant after a change of status, and what became of its Kafka access."""
    applied = kafka_principals.apply_after_change(node, view.participant_id)
    return {**view.to_json(), "kafka_access": applied.to_json()}
