"""The identifiers and fixed terms our connectors use on the Dataspace Protocol 2025-1.

Every identifier a protocol message carries is an absolute IRI, so that a JSON-LD processor
expands it without a base (the DSP context types ``providerPid``, ``consumerPid``,
``agreementId``, ``assigner``, ``assignee`` and ``target`` as ``@id``):

===============  ======================================  =====================================
what             IRI                                     why
===============  ======================================  =====================================
participant      ``urn:dataspace:participant:<id>``      the hub's registry id, as an IRI
dataset          ``urn:dataspace:product:<id>``          a data product of the catalog
offer            ``urn:dataspace:offer:<id>``            one of a product's offers
agreement        ``urn:dataspace:agreement:<id>``        the hub's record of the agreement
process          ``urn:uuid:<uuid4>``                    this side's negotiation or transfer
===============  ======================================  =====================================

The ``*_id`` functions read an IRI back into our id and refuse anything else with one
sentence, so a message naming somebody else's kind of thing never reaches the domain.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from dataspace.errors import InvalidInput
from dataspace.ids import validate_slug

VERSION = "2025-1"
CONTEXT_URL = "https://w3id.org/dspace/2025/1/context.jsonld"
CONTEXT = [CONTEXT_URL]
BASE_PATH = "/dsp"  # where a connector serves the protocol (its version document says so)

PARTICIPANT = "urn:dataspace:participant:"
DATASET = "urn:dataspace:product:"
OFFER = "urn:dataspace:offer:"
AGREEMENT = "urn:dataspace:agreement:"
PROCESS = "urn:uuid:"


class TransferFormat(StrEnum):
    """The transfer types a provider's connector offers (``dct:format`` of a distribution).

    - ``HttpData-PULL``: a finite transfer; the start message's data address names an HTTPS
      endpoint and a short-lived bearer token that answers grants for the agreement's
      deliveries (a presigned URL per delivery, as the grant service gives);
    - ``DeliveryFeed-PULL``: a non-finite transfer, a subscription to the product's releases;
      each delivery is still announced over Kafka and fetched by grant, and the transfer is
      STARTED while the agreement is in force, SUSPENDED while a party is suspended and
      TERMINATED when the agreement ends (ADR 0021).
    """

    HTTP_PULL = "HttpData-PULL"
    FEED_PULL = "DeliveryFeed-PULL"


class TransferState(StrEnum):
    REQUESTED = "REQUESTED"
    STARTED = "STARTED"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    TERMINATED = "TERMINATED"


def participant_iri(participant: str) -> str:
    return PARTICIPANT + participant


def dataset_iri(product: str) -> str:
    return DATASET + product


def offer_iri(offer: str) -> str:
    return OFFER + offer


def agreement_iri(agreement: str) -> str:
    return AGREEMENT + agreement


def new_pid() -> str:
    return f"{PROCESS}{uuid.uuid4()}"


def participant_of(iri: str) -> str:
    return _id_of(iri, PARTICIPANT, "participant")


def product_of(iri: str) -> str:
    """A dataset IRI (or, leniently, a bare product id) as our product id."""
    return _id_of(iri if ":" in iri else DATASET + iri, DATASET, "dataset")


def offer_of(iri: str) -> str:
    return _id_of(iri, OFFER, "offer")


def agreement_of(iri: str) -> str:
    return _id_of(iri, AGREEMENT, "agreement")


def _id_of(iri: str, prefix: str, what: str) -> str:
    if not isinstance(iri, str) or not iri.startswith(prefix):
        raise InvalidInput(f"{iri!r} is not a {what} of this data space; use {prefix}<id>.")
    try:
        return validate_slug(iri[len(prefix) :], what)
    except InvalidInput as exc:
        raise InvalidInput(f"{iri!r} does not name a {what}: {exc}") from exc
