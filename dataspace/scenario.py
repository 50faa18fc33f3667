"""A construction-machinery chain set up on one control plane, in a few lines.

The demo, the tests and the benchmarks all need the same cast: the operator, a chain leader,
its suppliers, products with their offers, and agreements concluded under those offers. This
builder makes them through the real services (registration, admission, catalog, negotiation),
so whatever it sets up was checked, signed and written to the ledger as a user's commands
would have; it only saves the typing.

Every method returns what the service returned; times default to now and may be moved back
(members who joined a quarter ago, an agreement concluded two months ago).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dataspace.catalog.model import ProductDescription
from dataspace.controlplane import catalog, negotiations, participants
from dataspace.controlplane.catalog import Artifacts
from dataspace.controlplane.read_models import ParticipantView, ProductView
from dataspace.identity.keystore import KeyStore
from dataspace.identity.membership import Registration, Role
from dataspace.identity.uscc import make_uscc
from dataspace.policy.model import parse_policy
from dataspace.store.db import Database

CHAIN = "construction-machinery"
PURPOSE = "supply-planning"
OPERATOR_USCC = make_uscc("12320000MB0000001")
Policy = dict[str, Any]


def purpose_only(purpose: str = PURPOSE) -> dict[str, Any]:
    return {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": [purpose]}


def whole_release_offer(uid: str, purpose: str = PURPOSE) -> Policy:
    """Use of the whole release, for ``purpose``."""
    return {"uid": uid, "permission": [{"action": "use", "constraint": [purpose_only(purpose)]}]}


def own_rows_offer(uid: str, *duties: dict[str, Any], purpose: str = PURPOSE) -> Policy:
    """Each supplier uses its own rows (``supplier_id``) for ``purpose``, with more duties."""
    own_rows = {"action": "filterRows", "column": "supplier_id"}
    permission = {
        "action": "use",
        "constraint": [purpose_only(purpose)],
        "duty": [own_rows, *duties],
    }
    return {"uid": uid, "permission": [permission]}


def masked(*columns: str) -> dict[str, Any]:
    """The duty to hash ``columns`` (salted per agreement)."""
    return {"action": "mask", "columns": list(columns), "method": "hash"}


@dataclass
class Scenario:
    """Participants, products and agreements on ``db``, signed with keys from ``keys``."""

    db: Database
    keys: KeyStore
    artifacts: Artifacts
    uscc_prefix: str = "9132050"
    _codes: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def operator(
        self, name: str = "江苏省数据枢纽", *, region: str = "CN-JS", now: datetime | None = None
    ) -> ParticipantView:
        return participants.init_operator(
            self.db, self.keys, name=name, uscc=OPERATOR_USCC, region=region, now=now
        )

    def uscc(self) -> str:
        """A valid unified social credit code, new for every call."""
        return make_uscc(f"{self.uscc_prefix}{next(self._codes):010d}")

    def register(
        self,
        pid: str,
        role: str = "supplier",
        *,
        name: str | None = None,
        region: str = "CN-JS",
        chains: Sequence[str] = (CHAIN,),
        now: datetime | None = None,
    ) -> ParticipantView:
        registration = Registration(
            pid, name or f"{pid} Co., Ltd.", self.uscc(), frozenset({Role(role)}), region,
            frozenset(chains),
        )  # fmt: skip
        return participants.register(self.db, self.keys, registration, now=now)

    def member(self, pid: str, role: str = "supplier", **kwargs: Any) -> ParticipantView:
        """Register and admit ``pid`` (same keywords as :meth:`register`)."""
        self.register(pid, role, **kwargs)
        return participants.admit(self.db, self.keys, pid, now=kwargs.get("now"))

    def product(
        self,
        product_id: str,
        *,
        owner: str,
        offers: Sequence[Policy],
        schema: str = "purchase_orders",
        titles: tuple[str, str] = ("采购订单", "Purchase orders"),
        grade: str = "general",
        cadence: str = "weekly",
        chains: Sequence[str] = (CHAIN,),
        auto_accept_chains: Sequence[str] = (),
        now: datetime | None = None,
    ) -> ProductView:
        """A product with schema and suite ``schema`` and ``offers`` (ODRL, in order)."""
        title_zh, title_en = titles
        description = ProductDescription(
            product_id=product_id,
            title_zh=title_zh,
            title_en=title_en,
            description_zh=f"{title_zh}（{product_id}）",
            description_en=f"{title_en} ({product_id})",
            owner=owner,
            schema_name=schema,
            suite_name=schema,
            grade=grade,  # type: ignore[arg-type]
            chain_tags=tuple(chains),
            cadence=cadence,  # type: ignore[arg-type]
            offers=tuple(parse_policy(offer) for offer in offers),
        )
        return catalog.create_product(
            self.db,
            self.keys,
            description,
            artifacts=self.artifacts,
            auto_accept_chains=tuple(auto_accept_chains),
            now=now,
        )

    def agree(
        self,
        consumer: str,
        product_id: str,
        *,
        provider: str,
        offer: int = 1,
        purpose: str = PURPOSE,
        now: datetime | None = None,
        **terms: Any,
    ) -> str:
        """``consumer`` requests offer number ``offer`` of the product (with ``terms`` such as
        ``valid_until`` or ``max_deliveries``) and ``provider`` accepts: the agreement id,
        signed by both."""
        agreement_id = negotiations.request(
            self.db, self.keys, consumer=consumer, product_id=product_id, purpose=purpose,
            offer_id=f"{product_id}-offer-{offer}", now=now, **terms,
        ).agreement_id  # fmt: skip
        negotiations.accept(
            self.db, self.keys, actor=provider, negotiation_id=agreement_id, now=now
        )
        return agreement_id
