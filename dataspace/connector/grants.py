"""The provider's connector answering grant requests: a presigned URL for its own bucket.

A subscriber asks with a signed request (an act, :mod:`dataspace.identity.acts`, checked
against its public key in the hub's registry). The connector then asks the hub, at that
moment, whether the agreement and both parties' memberships allow the delivery
(``GET /deliveries/{id}/authorization``); a hub that cannot answer means no grant (503:
fail closed). Only then does it presign a GET of the object in its own bucket with its own
S3 credentials, valid :data:`GRANT_LIFETIME`. The URL is never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dataspace.adapters.s3 import Presign, presigner
from dataspace.api.statuses import error_response, status_of
from dataspace.connector.state import Connector
from dataspace.controlplane.read_models import Grant
from dataspace.errors import (
    DataspaceError,
    NotFound,
    Unauthorized,
)
from dataspace.identity.acts import Act, check_act
from dataspace.store.types import utcnow
from dataspace.store.used_acts import use_once

log = logging.getLogger(__name__)

GRANT_LIFETIME = timedelta(minutes=5)
KEY_CACHE_SECONDS = 60.0  # a key the hub replaced (or a participant removed) is seen this soon
_bearer = HTTPBearer(auto_error=False, description="The subscriber's signed act.")


class PublicKeys:
    """Participants' public keys from the hub's registry, each kept briefly. Thread-safe."""

    def __init__(self, connector: Connector, ttl: float = KEY_CACHE_SECONDS) -> None:
        self._hub, self._ttl = connector.hub, ttl
        self._keys: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, participant: str) -> str:
        with self._lock:
            cached = self._keys.get(participant)
        if cached is not None and time.monotonic() - cached[1] < self._ttl:
            return cached[0]
        try:
            key = str(self._hub.get(f"/participants/{participant}")["public_key"])
        except NotFound as exc:
            raise Unauthorized(f"{participant!r} is not a registered participant.") from exc
        except Unauthorized:
            # The hub answers a suspended participant only its own record. A key the registry
            # gave us before still verifies the peer's message: typically the provider telling
            # us that our transfer is suspended, which we must be able to hear.
            if cached is not None:
                return cached[0]
            raise
        with self._lock:
            self._keys[participant] = (key, time.monotonic())
        return key


class UsedRequests:
    """Grant requests (and protocol messages) already answered: their acts' ids, kept in the
    connector's own database (:mod:`dataspace.store.used_acts`), so the same signed request
    is refused the second time, also after the connector restarts (a replay)."""

    def __init__(self, connector: Connector) -> None:
        self._db = connector.node.db

    def use(self, act: Act) -> None:
        use_once(self._db, act.token_id, act.actor)


@dataclass(frozen=True)
class _Granting:
    connector: Connector
    public_key_of: PublicKeys
    presign: Presign
    lifetime: timedelta
    used: UsedRequests


def create_grant_app(
    connector: Connector, *, presign: Presign | None = None, lifetime: timedelta = GRANT_LIFETIME
) -> FastAPI:
    """The provider connector's grant service (``presign`` defaults to its own bucket)."""
    presign = presign or _own_bucket_presigner(connector)
    app = FastAPI(title=f"Grants of {connector.participant}'s connector", description=__doc__)
    app.state.granting = _Granting(
        connector, PublicKeys(connector), presign, lifetime, UsedRequests(connector)
    )
    app.include_router(router)
    app.add_exception_handler(DataspaceError, _refused)  # type: ignore[arg-type]
    return app


def _own_bucket_presigner(connector: Connector) -> Presign:
    """Presigning in the connector's own bucket, set up at the first grant: a consumer's
    connector, which has no bucket, serves the protocol all the same."""
    made: list[Presign] = []
    lock = threading.Lock()

    def presign(key: str, lifetime: timedelta) -> str:
        with lock:
            if not made:
                settings = connector.node.settings
                made.append(presigner(settings.s3(), settings.release_bucket))
        return made[0](key, lifetime)

    return presign


def _granting(request: Request) -> _Granting:
    granting: _Granting = request.app.state.granting
    return granting


GrantingDep = Annotated[_Granting, Depends(_granting)]


async def _subscriber_act(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    granting: GrantingDep,
) -> Act:
    if credentials is None:
        raise _unauthenticated("Send your signed request: Authorization: Bearer <act>.")
    body = await request.body()
    try:
        act = check_act(
            credentials.credentials,
            granting.public_key_of,
            method=request.method,
            path=request.url.path,
            body=body,
        )
        granting.used.use(act)
    except Unauthorized as exc:
        raise _unauthenticated(str(exc)) from exc
    return act


router = APIRouter()


@router.get("/health", tags=["service"], summary="Liveness: the grant service answers.")
def health(granting: GrantingDep) -> dict[str, str]:
    return {"status": "ok", "participant": granting.connector.participant}


@router.post("/grants/{delivery_id}", summary="A presigned URL for the subscriber's delivery.")
def grant(
    delivery_id: str, act: Annotated[Act, Depends(_subscriber_act)], granting: GrantingDep
) -> dict[str, Any]:
    now = utcnow()
    allowed = granting.connector.hub.get(
        f"/deliveries/{delivery_id}/authorization", params={"subscriber": act.actor}
    )
    url = granting.presign(str(allowed["object_key"]), granting.lifetime)
    log.info(
        "grant issued: delivery=%s subscriber=%s agreement=%s lifetime=%s",
        delivery_id,
        act.actor,
        allowed["agreement_id"],
        granting.lifetime,
    )
    return Grant(
        delivery_id=str(allowed["delivery_id"]),
        url=url,
        expires_at=now + granting.lifetime,
        product_id=str(allowed["product_id"]),
        version=int(allowed["version"]),
        sha256=str(allowed["sha256"]),
        rows=int(allowed["rows"]),
        bytes=int(allowed["bytes"]),
    ).to_json()


def _refused(_request: Request, error: DataspaceError) -> JSONResponse:
    """A refusal by the hub (any 4xx) is 403 here unless the delivery is unknown; a hub that
    cannot answer is 503: no answer, no grant."""
    code = status_of(error)
    if code not in (status.HTTP_404_NOT_FOUND, status.HTTP_503_SERVICE_UNAVAILABLE):
        code = status.HTTP_403_FORBIDDEN
    if code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
        log.warning("grant refused, the hub did not answer: %s", error)
    return error_response(error, code)


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )
