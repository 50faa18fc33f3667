"""The signed act of a request that changes something on the hub.

:func:`acting_caller` (``ActingDep``) is the dependency of write routes. When the bearer
token is an act (:mod:`dataspace.identity.acts`), it must be made for exactly this method,
path and body, by a registered participant, and not carried out before (its ``jti`` goes into
``used_acts`` until it expires; a second use is a 401 "replayed"); the route then runs its
service inside ``who.in_hand()``, so the ledger keeps the act as the participant's proof.
A plain request token still identifies a caller whose key is on this node (development
mode); on a hub, whose services hold no participant key, such a write is refused (403).

A registration is the one act whose signer is not registered yet: :func:`registration_act`
checks it against the public key the registration itself declares (proof of possession).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials

from dataspace.api.auth import Caller, DatabaseDep, bearer, caller, public_key_lookup
from dataspace.controlplane import standing
from dataspace.controlplane.acting import acting
from dataspace.errors import Unauthorized
from dataspace.identity.acts import Act, check_act, is_act
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.used_acts import use_once

# Acts are kept this long after they were issued: longer than any act lives.
MAX_BODY = 4 * 1024 * 1024  # a manifest of many views is well under this


@dataclass(frozen=True)
class SignedRequest:
    act: Act
    body: bytes


async def request_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            f"The request body is larger than {MAX_BODY} bytes; send less.",
        )
    return await request.body()


def _checked(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    body: bytes,
    db: Database,
    public_key_of: Callable[[str], str],
) -> SignedRequest:
    if credentials is None:
        raise _unauthenticated("Send the request's signed act: Authorization: Bearer <act>.")
    try:
        act = check_act(
            credentials.credentials,
            public_key_of,
            method=request.method,
            path=request.url.path,
            body=body,
        )
        _use_once(db, act)
    except Unauthorized as exc:
        raise _unauthenticated(str(exc)) from exc
    return SignedRequest(act, body)


def registration_act(public_key: str) -> Callable[..., SignedRequest]:
    """Not a dependency: the registration route calls it with the key its body declares."""

    def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None,
        body: bytes,
        db: Database,
    ) -> SignedRequest:
        return _checked(request, credentials, body, db, lambda _participant: public_key)

    return check


def _use_once(db: Database, act: Act) -> None:
    use_once(db, act.token_id, act.actor)


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


@dataclass(frozen=True)
class ActingCaller:
    """The caller of a write route: its act when it signed one, else (a caller using a
    node that holds its key, development mode) a plain token."""

    caller: Caller
    signed: SignedRequest | None

    @property
    def participant_id(self) -> str:
        return self.caller.participant_id

    @contextmanager
    def in_hand(self) -> Iterator[None]:
        """Run the service with the act in hand, so the ledger keeps it as proof."""
        if self.signed is None:
            yield
            return
        with acting(self.signed.act, self.signed.body):
            yield


def acting_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    body: Annotated[bytes, Depends(request_body)],
    db: DatabaseDep,
) -> ActingCaller:
    if credentials is not None and is_act(credentials.credentials):
        signed = _checked(request, credentials, body, db, public_key_lookup(db))
        with db.transaction(read_only=True) as session:
            row = repository.get_participant(session, signed.act.actor)
        standing.require_standing(row.id, row.status)
        return ActingCaller(Caller(row.id, frozenset(row.roles), row.status), signed)
    return ActingCaller(caller(credentials, db), None)


ActingDep = Annotated[ActingCaller, Depends(acting_caller)]
