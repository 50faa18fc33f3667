"""A month of trade in October 2026 on the real stack, for the settlement tests.

Everything happens at explicit times (the services take ``now``): members are admitted and
agree on 5 October, ``po-<unique>`` is published on 6 and 13 October to three suppliers, and
again on 9 November. Receipts are recorded as each scenario needs them.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import select

from dataspace import demo_data
from dataspace.config import Settings
from dataspace.controlplane import negotiations, receipts
from dataspace.node import Node
from dataspace.operations.metering import Month
from dataspace.publishing.publish import publish
from dataspace.store.models import DeliveryRow
from tests.fixtures.controlplane import PURPOSE, Space
from tests.worlds.publish_world import LEADER, OWN_ROWS, SUPPLIERS

T0 = datetime(2026, 10, 5, 9, tzinfo=UTC)
OCTOBER = Month(2026, 10)
PUBLISHED = {1: T0 + timedelta(days=1), 2: T0 + timedelta(days=8), 3: T0 + timedelta(days=35)}
AFTER_CUTOFF = datetime(2026, 11, 20, tzinfo=UTC)  # October's receipts count until 6 November
RULES = """
[membership_fee]
chain_leader = 1000
supplier = 100
[service_fee]
per_delivery = 10
per_gib = 0
[price]
general = 100
per_million_rows = 0
"""


@dataclass
class Trade:
    space: Space
    settings: Settings
    product: str
    agreements: dict[str, str]

    def publish(self, version: int, tmp_path: Path) -> None:
        source = tmp_path / f"orders-v{version}.parquet"
        pq.write_table(demo_data.purchase_orders(version), source)
        with closing(Node(self.settings, self.space.db, self.space.keys)) as node:
            publish(
                node, product_id=self.product, provider=LEADER, source=source,
                now=PUBLISHED[version],
            )  # fmt: skip

    def delivery(self, supplier: str, version: int) -> DeliveryRow:
        with self.space.db.transaction() as session:
            query = select(DeliveryRow).where(
                DeliveryRow.id == f"dlv-{self.agreements[supplier]}-v{version}"
            )
            return session.scalars(query).one()

    def receive(self, supplier: str, version: int, at: datetime | None = None) -> None:
        row = self.delivery(supplier, version)
        landed = at or PUBLISHED[version] + timedelta(hours=1)
        receipts.receipt(
            self.space.db, self.space.keys, subscriber=supplier, delivery_id=row.id,
            sha256=row.sha256, rows=row.row_count, landed_at=landed, now=landed,
        )  # fmt: skip

    def alter_record(self, supplier: str, version: int) -> None:
        """The provider's record of a receipted delivery is changed afterwards."""
        with self.space.db.transaction() as session:
            row = session.get(DeliveryRow, self.delivery(supplier, version).id)
            assert row is not None
            row.row_count += 1


def october_trade(space: Space, settings: Settings, unique: str) -> Trade:
    for pid, role in ((LEADER, "chain_leader"), *((s, "supplier") for s in SUPPLIERS)):
        space.member(pid, role, now=T0)
    product = f"po-{unique}"
    space.product(product, owner=LEADER, offers=(OWN_ROWS,), now=T0)
    agreed = {}
    for supplier in SUPPLIERS:
        view = negotiations.request(
            space.db, space.keys, consumer=supplier, product_id=product, purpose=PURPOSE,
            now=T0 + timedelta(hours=1),
        )  # fmt: skip
        negotiations.accept(
            space.db, space.keys, actor=LEADER, negotiation_id=view.agreement_id,
            now=T0 + timedelta(hours=2),
        )  # fmt: skip
        agreed[supplier] = view.agreement_id
    isolated = settings.model_copy(
        update={"release_bucket": f"rel-{unique}", "reports_bucket": f"rep-{unique}"}
    )
    return Trade(space, isolated, product, agreed)
