"""Who is calling: a short-lived EdDSA token checked against the participant registry.

- No token, a malformed, expired or forged token, or an unknown participant: 401.
- A valid caller without the role an operation needs: 403.
- A caller that is not admitted (pending or suspended) may read only its own record and
  credential (:mod:`dataspace.controlplane.standing`); anything else is 403. Routes that serve
  a participant's own record take :data:`AnyStandingDep` and check it themselves.
Services enforce the finer rules (a consumer sees only its own agreements); an Unauthorized
they raise for an authenticated caller becomes 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dataspace.controlplane import standing
from dataspace.errors import NotFound, Unauthorized
from dataspace.identity import tokens
from dataspace.store import repository
from dataspace.store.db import Database

bearer = HTTPBearer(auto_error=False, description="A short-lived EdDSA JWT (see tokens.py).")


@dataclass(frozen=True)
class Caller:
    participant_id: str
    roles: frozenset[str]
    status: str


def database(request: Request) -> Database:
    db: Database = request.app.state.node.db
    return db


def caller(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    db: Annotated[Database, Depends(database)],
) -> Caller:
    """The authenticated caller, refused (403) unless it is admitted."""
    who = caller_of_any_standing(credentials, db)
    standing.require_standing(who.participant_id, who.status)
    return who


def caller_of_any_standing(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    db: Annotated[Database, Depends(database)],
) -> Caller:
    """The authenticated caller whatever its status; the route applies the standing rule."""
    if credentials is None:
        raise _unauthenticated("Send a token: Authorization: Bearer <EdDSA JWT>.")
    try:
        claims = tokens.check(credentials.credentials, public_key_lookup(db))
    except Unauthorized as exc:
        raise _unauthenticated(str(exc)) from exc
    with db.transaction(read_only=True) as session:
        row = repository.get_participant(session, claims.subject)
        return Caller(row.id, frozenset(row.roles), row.status)


def require_role(*roles: str) -> Callable[[Caller], Caller]:
    """A dependency that lets through only callers holding one of ``roles``."""

    def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if not who.roles & set(roles):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"This operation needs the role {' or '.join(roles)}; "
                f"{who.participant_id} does not hold it.",
            )
        return who

    return check


def public_key_lookup(db: Database) -> Callable[[str], str]:
    def public_key_of(participant: str) -> str:
        try:
            with db.transaction(read_only=True) as session:
                return repository.get_participant(session, participant).public_key
        except NotFound as exc:
            raise Unauthorized(f"{participant!r} is not a registered participant.") from exc

    return public_key_of


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


CallerDep = Annotated[Caller, Depends(caller)]
AnyStandingDep = Annotated[Caller, Depends(caller_of_any_standing)]
OperatorDep = Annotated[Caller, Depends(require_role("operator"))]
DatabaseDep = Annotated[Database, Depends(database)]
