"""The hub as a connector reaches it: HTTP, every request signed with the participant's key.

Reads carry a plain request token; writes carry an act bound to their method, path and body
(:mod:`dataspace.identity.acts`), so the hub can keep them as the participant's proof. The
hub's answers map back onto the project's errors: its ``{"error", "message"}`` body gives the
kind and the sentence; a hub that cannot be reached, times out or fails (5xx) is a
:class:`~dataspace.errors.ServiceError`, which callers retry or hold for later.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from dataspace.errors import (
    Conflict,
    DataspaceError,
    InvalidInput,
    NotFound,
    Refused,
    ServiceError,
    Unauthorized,
)
from dataspace.identity import tokens
from dataspace.identity.acts import mint_act
from dataspace.identity.keys import SigningKey

TIMEOUT_SECONDS = 30.0
_KINDS: dict[str, type[DataspaceError]] = {
    "InvalidInput": InvalidInput,
    "NotFound": NotFound,
    "Conflict": Conflict,
    "Unauthorized": Unauthorized,
    "Refused": Refused,
}
_BY_STATUS: dict[int, type[DataspaceError]] = {
    400: InvalidInput, 401: Unauthorized, 403: Unauthorized, 404: NotFound, 409: Conflict,
    413: InvalidInput, 422: InvalidInput,
}  # fmt: skip


def json_body(value: Any) -> bytes:
    """The bytes a request sends for ``value`` (and that its act is signed over)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


class HubClient:
    """One participant's view of one hub (or of another connector: same signing rules)."""

    def __init__(
        self,
        base_url: str,
        participant: str,
        key: SigningKey,
        *,
        timeout: float = TIMEOUT_SECONDS,
        what: str = "hub",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.participant = participant
        self._key = key
        self._what = what
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        token = tokens.mint(self.participant, self._key)
        return self._send("GET", path, token, params=params)

    def post(self, path: str, value: Any = None) -> Any:
        """POST ``value`` as JSON with an act signed for exactly this request."""
        body = b"" if value is None else json_body(value)
        token = mint_act(self.participant, self._key, "POST", path, body)
        return self._send("POST", path, token, content=body)

    def post_signed(self, path: str, body: bytes, token: str) -> Any:
        """POST a body whose act was made elsewhere (a registration, signed by the new key)."""
        return self._send("POST", path, token, content=body)

    def _send(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        if "content" in kwargs:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceError(
                f"The {self._what} at {self.base_url} cannot be reached ({type(exc).__name__}); "
                "check that it runs and the URL is right, then try again."
            ) from exc
        if response.status_code >= 500:  # noqa: PLR2004
            raise ServiceError(
                f"The {self._what} at {self.base_url} failed ({response.status_code}): "
                f"{_message(response)}"
            )
        if response.status_code >= 400:  # noqa: PLR2004
            raise _error(response)
        return response.json() if response.content else None

    def close(self) -> None:
        self._http.close()


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body)
    return str(body)


def _error(response: httpx.Response) -> DataspaceError:
    kind = None
    try:
        body = response.json()
        kind = body.get("error") if isinstance(body, dict) else None
    except ValueError:
        pass
    error_type = _KINDS.get(str(kind)) or _BY_STATUS.get(response.status_code, InvalidInput)
    return error_type(_message(response))
