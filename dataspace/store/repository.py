"""Look-ups by id that every caller needs, each raising NotFound with a sentence to act on.

Pass ``for_update=True`` when the row is about to change in the same transaction (a state
transition, a delivery count): on PostgreSQL the row is then locked until commit, so two
concurrent transitions of one agreement run one after the other. SQLite serializes writers
anyway (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.errors import NotFound
from dataspace.store.models import (
    AgreementRow,
    Base,
    DeliveryRow,
    NegotiationRow,
    OfferRow,
    ParticipantRow,
    ProductRow,
    ReleaseRow,
)

RowT = TypeVar("RowT", bound=Base)


def get_participant(
    session: Session, participant_id: str, *, for_update: bool = False
) -> ParticipantRow:
    return _get(
        session,
        ParticipantRow,
        participant_id,
        for_update,
        f"No participant with id {participant_id!r} exists; check the id with "
        "`dataspace participant list`, or register the participant first.",
    )


def participants(session: Session, participant_ids: Iterable[str]) -> list[ParticipantRow]:
    """The participants among ``participant_ids`` that exist, in one SELECT (unknown ids are
    left out): callers load the rows their checks will ``get`` one by one."""
    wanted = set(participant_ids)
    return list(session.scalars(select(ParticipantRow).where(ParticipantRow.id.in_(wanted))))


def find_participant_by_uscc(session: Session, uscc: str) -> ParticipantRow | None:
    """The participant registered under this unified social credit code, if any."""
    return session.scalars(select(ParticipantRow).where(ParticipantRow.uscc == uscc)).first()


def get_product(session: Session, product_id: str, *, for_update: bool = False) -> ProductRow:
    return _get(
        session,
        ProductRow,
        product_id,
        for_update,
        f"No product with id {product_id!r} exists; check the id with `dataspace product list`.",
    )


def get_offer(session: Session, offer_id: str) -> OfferRow:
    return _get(
        session,
        OfferRow,
        offer_id,
        False,
        f"No offer with id {offer_id!r} exists; see a product's offers with "
        "`dataspace product show PRODUCT`.",
    )


def get_release(session: Session, product_id: str, version: int) -> ReleaseRow:
    query = select(ReleaseRow).where(
        ReleaseRow.product_id == product_id, ReleaseRow.version == version
    )
    release = session.scalars(query).first()
    if release is None:
        raise NotFound(
            f"Product {product_id!r} has no release version {version}; see its versions with "
            f"`dataspace product show {product_id}`."
        )
    return release


def get_negotiation(
    session: Session, negotiation_id: str, *, for_update: bool = False
) -> NegotiationRow:
    return _get(
        session,
        NegotiationRow,
        negotiation_id,
        for_update,
        f"No negotiation with id {negotiation_id!r} exists; see yours with "
        "`dataspace agreement list`.",
    )


def get_agreement(session: Session, agreement_id: str, *, for_update: bool = False) -> AgreementRow:
    return _get(
        session,
        AgreementRow,
        agreement_id,
        for_update,
        f"No agreement with id {agreement_id!r} exists; see yours with `dataspace agreement list`.",
    )


def get_delivery(session: Session, delivery_id: str, *, for_update: bool = False) -> DeliveryRow:
    return _get(
        session,
        DeliveryRow,
        delivery_id,
        for_update,
        f"No delivery with id {delivery_id!r} exists; check the id in the delivery event.",
    )


def _get(session: Session, model: type[RowT], key: Any, for_update: bool, missing: str) -> RowT:
    row = session.get(model, key, with_for_update=for_update or None)
    if row is None:
        raise NotFound(missing)
    return row
