"""A public-data authority with an energy-and-emissions product and three authorized operators,
on a test's own node (``airflow_node``): what the public-data release tests share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from dataspace.controlplane import applications, participants
from dataspace.controlplane.applications import ApplicationView, Scenario
from dataspace.identity.keys import SigningKey
from dataspace.store.models import DeliveryRow, LedgerEntryRow, ReleaseRow
from dataspace.store.types import utcnow
from tests.fixtures.airflow import AirflowNode

AUTHORITY = "js-data-bureau"
OPERATORS = ("op-grid-analytics", "op-carbon-credit", "op-unlicensed")
SCHEMA = "public_energy_emissions"
OPERATOR_OFFER: dict[str, Any] = {
    "uid": "urn:policy:public-energy",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {
                    "leftOperand": "recipientRole",
                    "operator": "isAnyOf",
                    "rightOperand": ["authorized_operator"],
                }
            ],
        }
    ],
}


@dataclass
class PublicWorld:
    node: AirflowNode
    product: str

    @property
    def db(self) -> Any:
        return self.node.db

    def apply(self, operator: str, scenario: str, purpose: str = "carbon-accounting") -> str:
        now = utcnow()
        wanted = Scenario(scenario, purpose, "general", now - timedelta(days=1),
                          now + timedelta(days=180), "园区碳排放核算")  # fmt: skip
        view = applications.apply(
            self.db, self.node.keys, applicant=operator, product=self.product, scenario=wanted
        )
        return view.application_id

    def approve(self, application: str) -> ApplicationView:
        return applications.approve(
            self.db, self.node.keys, authority=AUTHORITY, application=application
        )

    def reject(self, application: str) -> ApplicationView:
        return applications.reject(
            self.db, self.node.keys, authority=AUTHORITY, application=application,
            reason="场景与公共利益不符",
        )  # fmt: skip

    def actions(self) -> list[str]:
        with self.db.transaction() as session:
            query = select(LedgerEntryRow.action).order_by(LedgerEntryRow.sequence)
            return list(session.scalars(query))

    def releases(self) -> list[ReleaseRow]:
        with self.db.transaction() as session:
            query = select(ReleaseRow).where(ReleaseRow.product_id == self.product)
            return list(session.scalars(query))

    def deliveries(self) -> list[DeliveryRow]:
        with self.db.transaction() as session:
            return list(session.scalars(select(DeliveryRow)))

    def public_key_of(self, actor: str) -> str:
        """Registered keys; an actor of another test's node gets a key that cannot verify."""
        try:
            return participants.show_participant(self.db, actor).public_key
        except Exception:  # noqa: BLE001 (NotFound: the event is not ours)
            return SigningKey.generate().public_key_b64


def make_public_world(node: AirflowNode, unique: str) -> PublicWorld:
    node.space.member(AUTHORITY, role="public_data_authority")
    for operator in OPERATORS:
        node.space.member(operator, role="authorized_operator")
    product = f"energy-{unique}"
    node.space.product(product, owner=AUTHORITY, schema=SCHEMA, offers=(OPERATOR_OFFER,))
    return PublicWorld(node, product)
