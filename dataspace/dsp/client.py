"""Sending protocol messages to another connector, each signed by this participant's key.

Every request carries an act (:mod:`dataspace.identity.acts`) bound to its method, path and
body and to the receiving participant (``rcv``), which the receiver checks against the
sender's public key in the hub's registry: our identity profile (ADR 0021).

A refusal by the other side (4xx with the protocol's error message) raises
:class:`~dataspace.dsp.messages.ProtocolError` with its code and reason; an unreachable or
failing connector (5xx, timeouts) raises :class:`~dataspace.errors.ServiceError`, which the
worker retries.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from dataspace.connector.hub_client import json_body
from dataspace.dsp.messages import Message, ProtocolError
from dataspace.dsp.trace import MessageLog
from dataspace.errors import ServiceError
from dataspace.identity.acts import mint_act
from dataspace.identity.keys import SigningKey

TIMEOUT_SECONDS = 10.0
SERVER_ERROR = 500


class DspClient:
    """One participant speaking the protocol to other connectors."""

    def __init__(
        self,
        participant: str,
        key: SigningKey,
        *,
        timeout: float = TIMEOUT_SECONDS,
        log: MessageLog | None = None,
    ) -> None:
        self.participant = participant
        self._key, self._log = key, log
        self._http = httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)

    def post(self, url: str, receiver: str, message: Message) -> Message | None:
        """POST ``message`` to ``url``; the answer's JSON object, if it sent one."""
        answer = self._send("POST", url, receiver, json_body(message))
        return answer if isinstance(answer, dict) else None

    def get(self, url: str, receiver: str, params: dict[str, str] | None = None) -> Any:
        return self._send("GET", url, receiver, b"", params=params)

    def bearer_get(self, url: str, token: str, params: dict[str, str]) -> Any:
        """GET with a bearer token a provider handed out (a pull transfer's data address)."""
        try:
            response = self._http.get(url, params=params,
                                      headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise ServiceError(f"The data address {url} did not answer ({exc}).") from exc
        if response.status_code >= SERVER_ERROR:
            raise ServiceError(f"The data address {url} failed ({response.status_code}).")
        answer = _json(response)
        if response.is_success:
            return answer
        raise _refusal(response.status_code, answer, "the provider")

    def close(self) -> None:
        self._http.close()

    def _send(
        self,
        method: str,
        url: str,
        receiver: str,
        body: bytes,
        params: dict[str, str] | None = None,
    ) -> Any:
        token = mint_act(self.participant, self._key, method, urlsplit(url).path, body,
                         receiver=receiver)  # fmt: skip
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            response = self._http.request(method, url, content=body or None, headers=headers,
                                          params=params)  # fmt: skip
        except httpx.HTTPError as exc:
            raise ServiceError(f"{receiver}'s connector at {url} did not answer ({exc}).") from exc
        if response.status_code >= SERVER_ERROR:
            raise ServiceError(
                f"{receiver}'s connector at {url} failed ({response.status_code}); try again."
            )
        answer = _json(response)
        if self._log is not None:
            request = json.loads(body) if body else None
            self._log.record("client", receiver, method, urlsplit(url).path,
                             (request, response.status_code, answer))  # fmt: skip
        if response.is_success:
            return answer
        raise _refusal(response.status_code, answer, receiver)


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _refusal(status: int, answer: Any, receiver: str) -> ProtocolError:
    answer = answer if isinstance(answer, dict) else {}
    reason = answer.get("reason") or answer.get("message") or f"HTTP {status}"
    if isinstance(reason, list):
        reason = "; ".join(str(part) for part in reason)
    return ProtocolError(
        status,
        str(answer.get("code") or answer.get("error") or "refused"),
        f"{receiver}'s connector refused: {reason}",
        error_type=str(answer.get("@type") or "ContractNegotiationError"),
        provider_pid=answer.get("providerPid"),
        consumer_pid=answer.get("consumerPid"),
    )
