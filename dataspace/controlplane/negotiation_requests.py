"""How a consumer's request opens a negotiation: the terms it may ask for, the offer it picks,
what the offer must grant it, and the rule that public data is licensed only through an
approved scenario application (ADR 0009). :mod:`dataspace.controlplane.negotiations` runs the
states; this module is the part every request shares, whoever makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.canonical import utc_iso
from dataspace.contracts.negotiation import State
from dataspace.controlplane import contract_state as cs
from dataspace.controlplane.bounds import MAX_DELIVERIES
from dataspace.controlplane.participants import require_active
from dataspace.errors import Conflict, InvalidInput, Refused, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.identity.membership import Role
from dataspace.ids import validate_slug
from dataspace.policy.evaluate import Context, evaluate
from dataspace.policy.model import Policy, parse_policy
from dataspace.policy.vocabulary import Action
from dataspace.store import repository
from dataspace.store.models import NegotiationRow, OfferRow, ParticipantRow, ProductRow

DEFAULT_TERM = timedelta(days=365)
OPEN_STATES = tuple(s.value for s in State if s not in (State.FINALIZED, State.TERMINATED))


@dataclass(frozen=True)
class Terms:
    """What a consumer asks for; ``until`` is ``valid_until`` or the default term's end."""

    purpose: str
    valid_until: datetime | None
    until: datetime
    max_deliveries: int | None


def open_request(  # noqa: PLR0917 (each caller passes the same seven things)
    session: Session,
    keys: KeyStore,
    taker: ParticipantRow,
    product: ProductRow,
    offer_id: str | None,
    terms: Terms,
    now: datetime,
) -> tuple[NegotiationRow, bool]:
    """The consumer's open request for the offer with these terms, and whether it is new."""
    offer = _pick_offer(session, product, offer_id)
    open_row = open_negotiation(session, taker.id, offer.id)
    if open_row is not None:
        conflict = cs.repeat_conflict(
            open_row, terms.purpose, terms.valid_until, terms.max_deliveries
        )
        if conflict is not None:
            raise conflict
        return open_row, False
    require_active(session, product.owner_id, now, "negotiate")
    if taker.id == product.owner_id:
        raise InvalidInput("A provider cannot request its own product; act as the consumer.")
    require_granted(parse_policy(offer.policy), taker, terms.purpose, now, offer.id)
    row = _new_negotiation(session, consumer=taker.id, product=product, offer=offer,
                           purpose=terms.purpose, until=terms.until,
                           max_deliveries=terms.max_deliveries)  # fmt: skip
    row.history = [{"state": State.REQUESTED.value, "at": utc_iso(now)}]
    cs.record_step(session, keys, taker.id, "negotiation.requested", row, now=now)
    return row, True


def refuse_public_data(session: Session, product: ProductRow) -> None:
    """Public data is licensed only by approving a scenario application (ADR 0009)."""
    owner = repository.get_participant(session, product.owner_id)
    if Role.PUBLIC_DATA_AUTHORITY.value in owner.roles:
        raise Refused(
            f"{product.id!r} is public data of {owner.id!r}, licensed only through an approved "
            f"scenario application: apply with `dataspace application apply --product "
            f"{product.id} --scenario <scenario> --purpose <purpose> --from <start> --until "
            "<end> --as <operator>`."
        )


def requested_terms(
    purpose: str, valid_until: datetime | None, max_deliveries: int | None, now: datetime
) -> datetime:
    """Check what the consumer asks for; the agreement's end (one year when not given)."""
    validate_slug(purpose, "purpose")
    if max_deliveries is not None and not 1 <= max_deliveries <= MAX_DELIVERIES:
        raise InvalidInput(
            f"The maximum number of deliveries must be between 1 and {MAX_DELIVERIES}; "
            "leave it out for no limit."
        )
    if valid_until is not None and valid_until.utcoffset() is None:
        raise InvalidInput(
            "The agreement's end has no timezone; give it as ISO 8601 with one, e.g. "
            "2027-01-31T00:00:00+08:00."
        )
    until = valid_until or now + DEFAULT_TERM
    if until <= now:
        raise InvalidInput("The agreement must end in the future; give a later --valid-until.")
    return until


def _pick_offer(session: Session, product: ProductRow, offer_id: str | None) -> OfferRow:
    if offer_id is not None:
        offer = repository.get_offer(session, offer_id)
        if offer.product_id != product.id:
            raise InvalidInput(f"The offer {offer_id!r} is not an offer of {product.id!r}.")
        return offer
    offers = session.scalars(select(OfferRow).where(OfferRow.product_id == product.id)).all()
    if not offers:
        raise Conflict(f"The product {product.id!r} has no offers, so nothing can be requested.")
    if len(offers) > 1:
        ids = ", ".join(sorted(offer.id for offer in offers))
        raise InvalidInput(
            f"The product {product.id!r} has several offers; pick one with --offer ({ids})."
        )
    return offers[0]


def open_negotiation(session: Session, consumer: str, offer: str) -> NegotiationRow | None:
    query = select(NegotiationRow).where(
        NegotiationRow.consumer_id == consumer,
        NegotiationRow.offer_id == offer,
        NegotiationRow.state.in_(OPEN_STATES),
    )
    return session.scalars(query).first()


def require_granted(
    policy: Policy, consumer: ParticipantRow, purpose: str, now: datetime, offer: str
) -> None:
    """Refuse a request the offer grants nothing for (no action allowed for this purpose now)."""
    decisions = [evaluate(policy, _context(action, consumer, purpose, now)) for action in Action]
    if any(decision.allowed for decision in decisions):
        return
    why = "; ".join(reason for d in decisions for reason in d.reasons[1:2])
    raise Unauthorized(
        f"The offer {offer!r} grants {consumer.id!r} nothing for the purpose {purpose!r} ({why})."
    )


def _context(action: Action, consumer: ParticipantRow, purpose: str, now: datetime) -> Context:
    return Context(
        action=action,
        purpose=purpose,
        recipient=consumer.id,
        roles=frozenset(consumer.roles),  # type: ignore[arg-type]  # Context validates them
        region=consumer.region,
        now=now,
        industry_chains=frozenset(consumer.industry_chains),
    )


def _new_negotiation(
    session: Session,
    *,
    consumer: str,
    product: ProductRow,
    offer: OfferRow,
    purpose: str,
    until: datetime,
    max_deliveries: int | None,
) -> NegotiationRow:
    row = NegotiationRow(
        id=cs.new_negotiation_id(session, consumer, offer.id),
        product_id=product.id,
        offer_id=offer.id,
        consumer_id=consumer,
        provider_id=product.owner_id,
        state=State.REQUESTED.value,
        policy=offer.policy,
        purpose=purpose,
        valid_until=until,
        max_deliveries=max_deliveries,
    )
    session.add(row)
    session.flush()
    return row
