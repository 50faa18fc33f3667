"""Dataspace Protocol 2025-1 messages: building the ones we send, reading the ones we accept.

Builders return plain JSON values in the compact form of the DSP context (``@context`` is the
list of context URLs the protocol's schemas require). Readers take a decoded JSON body and
return the fields a handler needs, or raise :class:`ProtocolError`: a refusal that the HTTP
binding answers with the protocol's own error message (``ContractNegotiationError``,
``TransferError`` or ``CatalogError``) carrying a code and a reason, never a 500.

The readers accept what the protocol allows and nothing it forbids: unknown properties are
ignored (JSON-LD documents may carry extensions), a missing or mistyped required property is
refused with the name of the property.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dataspace.dsp.terms import CONTEXT, CONTEXT_URL
from dataspace.errors import DataspaceError

Message = dict[str, Any]


class ProtocolError(DataspaceError):
    """A message or request the protocol refuses; answered as ``error_type`` with ``code``."""

    def __init__(
        self,
        status: int,
        code: str,
        reason: str,
        *,
        error_type: str = "ContractNegotiationError",
        provider_pid: str | None = None,
        consumer_pid: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason
        self.error_type = error_type
        self.provider_pid, self.consumer_pid = provider_pid, consumer_pid

    def to_message(self) -> Message:
        body: Message = {"@context": CONTEXT, "@type": self.error_type}
        if self.error_type != "CatalogError":
            body["providerPid"] = self.provider_pid or ""
            body["consumerPid"] = self.consumer_pid or ""
        return {**body, "code": self.code, "reason": [self.reason]}


def bad_request(reason: str, *, error_type: str = "ContractNegotiationError") -> ProtocolError:
    return ProtocolError(400, "bad-request", reason, error_type=error_type)


# ---------------------------------------------------------------- builders


def _message(kind: str, **fields: Any) -> Message:
    return {
        "@context": CONTEXT,
        "@type": kind,
        **{k: v for k, v in fields.items() if v is not None},
    }


def contract_negotiation(provider_pid: str, consumer_pid: str, state: str) -> Message:
    return _message(
        "ContractNegotiation", providerPid=provider_pid, consumerPid=consumer_pid, state=state
    )


def contract_request(
    consumer_pid: str,
    offer: Message,
    *,
    callback_address: str | None = None,
    provider_pid: str | None = None,
) -> Message:
    return _message(
        "ContractRequestMessage",
        consumerPid=consumer_pid,
        providerPid=provider_pid,
        offer=offer,
        callbackAddress=callback_address,
    )


def contract_offer(
    provider_pid: str,
    offer: Message,
    *,
    consumer_pid: str | None = None,
    callback_address: str | None = None,
) -> Message:
    return _message(
        "ContractOfferMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        offer=offer,
        callbackAddress=callback_address,
    )


def contract_agreement(provider_pid: str, consumer_pid: str, agreement: Message) -> Message:
    return _message(
        "ContractAgreementMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        agreement=agreement,
    )


def agreement_verification(provider_pid: str, consumer_pid: str) -> Message:
    return _message(
        "ContractAgreementVerificationMessage", providerPid=provider_pid, consumerPid=consumer_pid
    )


def negotiation_event(provider_pid: str, consumer_pid: str, event_type: str) -> Message:
    return _message(
        "ContractNegotiationEventMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        eventType=event_type,
    )


def negotiation_termination(
    provider_pid: str, consumer_pid: str, code: str, reason: str
) -> Message:
    return _message(
        "ContractNegotiationTerminationMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        code=code,
        reason=[reason],
    )


def transfer_request(
    consumer_pid: str, agreement_id: str, transfer_format: str, callback_address: str
) -> Message:
    return _message(
        "TransferRequestMessage",
        consumerPid=consumer_pid,
        agreementId=agreement_id,
        format=transfer_format,
        callbackAddress=callback_address,
    )


def transfer_process(provider_pid: str, consumer_pid: str, state: str) -> Message:
    return _message(
        "TransferProcess", providerPid=provider_pid, consumerPid=consumer_pid, state=state
    )


def transfer_start(
    provider_pid: str, consumer_pid: str, data_address: Message | None = None
) -> Message:
    return _message(
        "TransferStartMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        dataAddress=data_address,
    )


def transfer_completion(provider_pid: str, consumer_pid: str) -> Message:
    return _message("TransferCompletionMessage", providerPid=provider_pid, consumerPid=consumer_pid)


def transfer_termination(provider_pid: str, consumer_pid: str, code: str, reason: str) -> Message:
    return _message(
        "TransferTerminationMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        code=code,
        reason=[reason],
    )


def transfer_suspension(provider_pid: str, consumer_pid: str, code: str, reason: str) -> Message:
    return _message(
        "TransferSuspensionMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        code=code,
        reason=[reason],
    )


def data_address(endpoint_type: str, endpoint: str, properties: dict[str, str]) -> Message:
    return {
        "@type": "DataAddress",
        "endpointType": endpoint_type,
        "endpoint": endpoint,
        "endpointProperties": [
            {"@type": "EndpointProperty", "name": name, "value": value}
            for name, value in properties.items()
        ],
    }


def address_properties(address: Message) -> dict[str, str]:
    """The endpoint properties of a received data address, by name."""
    found: dict[str, str] = {}
    for item in address.get("endpointProperties") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            found[item["name"]] = str(item.get("value", ""))
    return found


# ---------------------------------------------------------------- readers


@dataclass(frozen=True)
class Received:
    """A message that passed the protocol's shape: its type and its JSON object."""

    kind: str
    body: Message
    error_type: str = "ContractNegotiationError"
    pids: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = self.body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise self.refusal(f"The {self.kind} has no {name} (a non-empty string).")
        return value

    def mapping(self, name: str) -> Message:
        value = self.body.get(name)
        if not isinstance(value, dict):
            raise self.refusal(f"The {self.kind} has no {name} (a JSON object).")
        return value

    def refusal(self, reason: str, status: int = 400, code: str = "bad-request") -> ProtocolError:
        return ProtocolError(
            status,
            code,
            reason,
            error_type=self.error_type,
            provider_pid=self.pids.get("providerPid"),
            consumer_pid=self.pids.get("consumerPid"),
        )


def receive(body: object, kind: str, *, error_type: str = "ContractNegotiationError") -> Received:
    """``body`` as a ``kind`` message, or a :class:`ProtocolError` saying what is wrong."""
    if not isinstance(body, dict):
        raise bad_request(f"The body is not a JSON object; send a {kind}.", error_type=error_type)
    pids = {
        k: v for k, v in body.items() if k in ("providerPid", "consumerPid") and isinstance(v, str)
    }
    received = Received(kind, body, error_type, pids)
    context = body.get("@context")
    if not isinstance(context, list) or CONTEXT_URL not in context:
        raise received.refusal(
            f"The {kind}'s @context must be a list of context URLs that includes {CONTEXT_URL}."
        )
    if body.get("@type") != kind:
        raise received.refusal(f"Expected a {kind} here, got @type {body.get('@type')!r}.")
    return received
