"""The Dataspace Protocol 2025-1 HTTPS binding of a connector (provider and consumer side).

Mounted on the connector's service (``connector serve``) under :data:`~dataspace.dsp.terms.
BASE_PATH`, with the version document at ``/.well-known/dspace-version``. Every request but
the version document and a pull transfer's data endpoint carries the caller's act, signed
by its own key for this connector (identity profile, ADR 0021). Every refusal is the
protocol's error message (``CatalogError``, ``ContractNegotiationError``, ``TransferError``)
with a code and a reason; a body that is not JSON, too large, or not the message the route
takes is a 400, never a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from dataspace.connector.grants import PublicKeys, UsedRequests
from dataspace.connector.state import Connector
from dataspace.dsp import catalog, negotiation, store, terms, transfer
from dataspace.dsp.messages import ProtocolError, Received, receive
from dataspace.dsp.trace import MessageLog
from dataspace.dsp.worker import DspWorker
from dataspace.errors import DataspaceError, ServiceError, Unauthorized
from dataspace.identity.acts import check_act
from dataspace.policy.odrl import profile_document
from dataspace.store.models import DspNegotiationRow, DspTransferRow
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # 1 MiB: far more than any protocol message
JSON_LD = "application/ld+json"
IDENTITY_PROFILE = "urn:dataspace:identity:act-eddsa:v1"


@dataclass(frozen=True)
class Protocol:
    connector: Connector
    public_key_of: PublicKeys
    used: UsedRequests
    worker: DspWorker
    log: MessageLog


def mount(app: FastAPI, connector: Connector, worker: DspWorker, log: MessageLog) -> None:
    """Serve the protocol on ``app`` (the connector's grant service)."""
    app.state.protocol = Protocol(
        connector, PublicKeys(connector), UsedRequests(connector), worker, log
    )
    app.include_router(well_known)
    app.include_router(router)
    app.add_exception_handler(ProtocolError, _protocol_error)  # type: ignore[arg-type]
    app.middleware("http")(_recorded)


async def _recorded(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
    """Keep every protocol exchange this connector answers in its message log."""
    if not request.url.path.startswith(terms.BASE_PATH + "/"):
        return await call_next(request)
    raw = await request.body()
    response = await call_next(request)
    chunks = [chunk async for chunk in response.body_iterator]
    content = b"".join(chunks)
    protocol: Protocol = request.app.state.protocol
    protocol.log.record(
        "server", str(getattr(request.state, "caller", "?")), request.method, request.url.path,
        (_parsed(raw), response.status_code, _parsed(content)),
    )  # fmt: skip
    return Response(content, response.status_code, dict(response.headers),
                    media_type=response.media_type)  # fmt: skip


def _parsed(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return {"unparsed": len(raw)}


def _protocol(request: Request) -> Protocol:
    protocol: Protocol = request.app.state.protocol
    return protocol


ProtocolDep = Annotated[Protocol, Depends(_protocol)]


def _error_type(path: str) -> str:
    if "/catalog" in path:
        return "CatalogError"
    return "TransferError" if "/transfers" in path else "ContractNegotiationError"


@dataclass(frozen=True)
class Call:
    """An authenticated request: who sent it and its JSON body (if any)."""

    caller: str
    body: Any
    error_type: str

    def message(self, kind: str) -> Received:
        return receive(self.body, kind, error_type=self.error_type)


async def _call(request: Request, protocol: ProtocolDep) -> Call:
    error_type = _error_type(request.url.path)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ProtocolError(413, "too-large", f"A protocol message is at most {MAX_BODY} bytes.",
                            error_type=error_type)  # fmt: skip
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise ProtocolError(401, "unauthorized",
                            "Sign the request: Authorization: Bearer <act> (identity profile in "
                            "/.well-known/dspace-version).", error_type=error_type)  # fmt: skip
    try:
        act = check_act(header[7:].strip(), protocol.public_key_of, method=request.method,
                        path=request.url.path, body=raw,
                        receiver=protocol.connector.participant)  # fmt: skip
        protocol.used.use(act)
    except ServiceError:
        raise
    except (Unauthorized, DataspaceError) as exc:
        raise ProtocolError(401, "unauthorized", str(exc), error_type=error_type) from exc
    body: Any = None
    if raw:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(400, "bad-request", "The body is not JSON; send a protocol "
                                "message.", error_type=error_type) from exc  # fmt: skip
    request.state.caller = act.actor
    return Call(act.actor, body, error_type)


CallDep = Annotated[Call, Depends(_call)]


def _handled(protocol: Protocol, error_type: str, step: Callable[[], Any]) -> Any:
    """Run a handler; our own errors become the protocol's, and the worker is nudged."""
    try:
        answer = step()
    except ProtocolError:
        raise
    except ServiceError as exc:
        raise ProtocolError(503, "unavailable", str(exc), error_type=error_type) from exc
    except DataspaceError as exc:
        raise ProtocolError(400, "refused", str(exc), error_type=error_type) from exc
    protocol.worker.nudge()
    return answer


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        return Response(status_code=status)
    return JSONResponse(body, status_code=status, media_type=JSON_LD, headers=headers)


# ---------------------------------------------------------------- well-known documents

well_known = APIRouter(tags=["dataspace protocol"])


@well_known.get("/.well-known/dspace-version", summary="The protocol versions served here.")
def version(protocol: ProtocolDep) -> Response:
    connector = protocol.connector
    return _json({
        "protocolVersions": [{
            "version": terms.VERSION,
            "path": terms.BASE_PATH,
            "binding": "HTTPS",
            "identifierType": "urn:dataspace:participant",
            "serviceId": terms.participant_iri(connector.participant),
            "auth": {"protocol": "dataspace-act", "version": "1",
                     "profile": [IDENTITY_PROFILE, f"registry:{connector.config.hub_url}"]},
        }]
    })  # fmt: skip


@well_known.get("/.well-known/dataspace/connector", summary="Who this connector is.")
def metadata(protocol: ProtocolDep) -> Response:
    """The identity profile in full: how a caller signs, where its key is checked."""
    connector = protocol.connector
    return _json({
        "participantId": terms.participant_iri(connector.participant),
        "protocol": {"version": terms.VERSION, "path": terms.BASE_PATH},
        "identity": {
            "profile": IDENTITY_PROFILE,
            "token": "JWS (EdDSA, Ed25519) in Authorization: Bearer, at most 2 minutes, one "
                     "use; claims sub (participant id), aud dataspace-control-plane, iat, exp, "
                     "jti, htm (method), htu (path), bsh (SHA-256 hex of the body), rcv (the "
                     "receiving participant id)",
            "registry": connector.config.hub_url,
            "keyLookup": "GET {registry}/participants/{sub} -> public_key (base64url Ed25519)",
            "dcp": "not yet: a Decentralized Claims Protocol presentation can replace the "
                   "registry lookup without changing the messages (ADR 0021)",
        },
        "policyProfile": "/.well-known/dataspace/policy-profile.jsonld",
        "transferFormats": [f.value for f in terms.TransferFormat],
    })  # fmt: skip


@well_known.get("/.well-known/dataspace/policy-profile.jsonld", summary="Our ODRL profile.")
def policy_profile() -> Response:
    return _json(profile_document())


# ---------------------------------------------------------------- catalog

router = APIRouter(prefix=terms.BASE_PATH, tags=["dataspace protocol"])


@router.post("/catalog/request", summary="The catalog of this provider (paginated).")
def catalog_request(
    call: CallDep, protocol: ProtocolDep, request: Request, offset: int = 0,
    limit: int = catalog.DEFAULT_LIMIT,
) -> Response:  # fmt: skip
    received = call.message("CatalogRequestMessage")
    if received.body.get("filter"):
        raise received.refusal("This catalog takes no filter; ask without one.")
    body, more = _handled(
        protocol,
        call.error_type,
        lambda: catalog.catalog(protocol.connector, offset=offset, limit=limit),
    )
    links = []
    base = str(request.url.replace(query=""))
    if more:
        links.append(f'<{base}?offset={offset + limit}&limit={limit}>; rel="next"')
    if offset > 0:
        links.append(f'<{base}?offset={max(offset - limit, 0)}&limit={limit}>; rel="previous"')
    return _json(body, headers={"Link": ", ".join(links)} if links else None)


@router.get("/catalog/datasets/{identifier:path}", summary="One dataset of this provider.")
def dataset(identifier: str, call: CallDep, protocol: ProtocolDep) -> Response:
    return _json(
        _handled(
            protocol, call.error_type, lambda: catalog.one_dataset(protocol.connector, identifier)
        )
    )


# ---------------------------------------------------------------- negotiation

NEGOTIATION_STEPS = {
    "request": ("ContractRequestMessage", "request"),
    "agreement/verification": ("ContractAgreementVerificationMessage", "verification"),
    "termination": ("ContractNegotiationTerminationMessage", "termination"),
    "agreement": ("ContractAgreementMessage", "agreement"),
    "offers": ("ContractOfferMessage", "offer"),
}


@router.get("/negotiations/{pid}", summary="The state of a negotiation with the caller.")
def negotiation_state(pid: str, call: CallDep, protocol: ProtocolDep) -> Response:
    def state() -> dict[str, Any]:
        with protocol.connector.node.db.transaction() as session:
            row = store.process(session, DspNegotiationRow, pid, caller=call.caller)
            return negotiation.view(row)

    return _json(_handled(protocol, call.error_type, state))


@router.post("/negotiations/request", status_code=201, summary="Provider: a new request.")
def negotiation_request(call: CallDep, protocol: ProtocolDep) -> Response:
    received = call.message("ContractRequestMessage")
    answer = _handled(
        protocol,
        call.error_type,
        lambda: negotiation.on_request(protocol.connector, call.caller, received),
    )
    return _json(answer, 201)


@router.post("/negotiations/offers", summary="Consumer: an offer a provider starts.")
def provider_initiated_offer(call: CallDep) -> Response:
    received = call.message("ContractOfferMessage")
    raise received.refusal(
        "This connector does not take negotiations a provider starts; publish the offer in "
        "your catalog and let the consumer request it.", code="unsupported",
    )  # fmt: skip


@router.post("/negotiations/{pid}/events", summary="An ACCEPTED or FINALIZED event.")
def negotiation_event(pid: str, call: CallDep, protocol: ProtocolDep) -> Response:
    received = call.message("ContractNegotiationEventMessage")
    _handled(
        protocol,
        call.error_type,
        lambda: negotiation.on_event(protocol.connector, call.caller, pid, received),
    )
    return Response(status_code=200)


StepHandler = Callable[[Connector, str, str, str, Received], None]


def _step_route(kind: str, step: str, handle_step: StepHandler) -> Callable[..., Response]:
    """The route of one message about an existing process (200 with no body)."""

    def handle(pid: str, call: CallDep, protocol: ProtocolDep) -> Response:
        received = call.message(kind)
        connector, caller = protocol.connector, call.caller
        _handled(protocol, call.error_type,
                 lambda: handle_step(connector, caller, pid, step, received))  # fmt: skip
        return Response(status_code=200)

    return handle


for _suffix, (_kind, _step) in NEGOTIATION_STEPS.items():
    router.add_api_route(f"/negotiations/{{pid}}/{_suffix}",
                         _step_route(_kind, _step, negotiation.on_message),
                         methods=["POST"], summary=f"A {_kind}.")  # fmt: skip


# ---------------------------------------------------------------- transfer

TRANSFER_STEPS = {
    "start": "TransferStartMessage",
    "completion": "TransferCompletionMessage",
    "termination": "TransferTerminationMessage",
    "suspension": "TransferSuspensionMessage",
}


@router.get("/transfers/{pid}/data", summary="Pull transfer: a grant for one delivery.")
def transfer_data(pid: str, delivery: str, request: Request, protocol: ProtocolDep) -> Response:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    granting = request.app.state.granting

    def grant() -> dict[str, Any]:
        return transfer.grant_for(protocol.connector, pid, token=token, delivery=delivery,
                                  presign=granting.presign, lifetime=granting.lifetime,
                                  now=utcnow())  # fmt: skip

    return _json(_handled(protocol, "TransferError", grant))


@router.get("/transfers/{pid}", summary="The state of a transfer with the caller.")
def transfer_state(pid: str, call: CallDep, protocol: ProtocolDep) -> Response:
    def state() -> dict[str, Any]:
        with protocol.connector.node.db.transaction() as session:
            row = store.process(session, DspTransferRow, pid, caller=call.caller,
                                error_type="TransferError")  # fmt: skip
            return transfer.view(row)

    return _json(_handled(protocol, call.error_type, state))


@router.post("/transfers/request", status_code=201, summary="Provider: a transfer request.")
def transfer_request(call: CallDep, protocol: ProtocolDep) -> Response:
    received = call.message("TransferRequestMessage")
    answer = _handled(
        protocol,
        call.error_type,
        lambda: transfer.on_request(protocol.connector, call.caller, received),
    )
    return _json(answer, 201)


for _step, _kind in TRANSFER_STEPS.items():
    router.add_api_route(f"/transfers/{{pid}}/{_step}",
                         _step_route(_kind, _step, transfer.on_message), methods=["POST"],
                         summary=f"A {_kind}.")  # fmt: skip


def _protocol_error(_request: Request, error: ProtocolError) -> JSONResponse:
    if error.status >= 500:  # noqa: PLR2004
        log.warning("protocol request failed: %s", error.reason)
    return JSONResponse(error.to_message(), status_code=error.status, media_type=JSON_LD)
