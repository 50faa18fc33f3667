"""A chain leader and its suppliers, run through the real `publish` and the real subscriber
agent on one control plane: what the end-to-end and fault tests of the delivery pipeline share.

Every supplier id carries the test's unique suffix (``s<unique>-01`` ...), and so does the
data's ``supplier_id`` column: each test has its own consumer groups and is the only one
keying announcements to its suppliers on the session's shared announcement topic. The
release bucket is the test's own too.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import select

from dataspace import demo_data
from dataspace.adapters.s3 import presigner
from dataspace.agent.control_plane import LocalControlPlane
from dataspace.agent.subscriber import SubscribeOptions, SubscribeSummary, subscribe
from dataspace.config import Settings
from dataspace.dataplane.download import PARTIAL_SUFFIX
from dataspace.node import Node
from dataspace.publishing.publish import Progress, PublishSummary, publish
from dataspace.store.models import DeliveryRow, LedgerEntryRow
from tests.fixtures.controlplane import CHAIN, Space
from tests.worlds.publish_world import MASKED_PRICE, OWN_ROWS, PROJECTED

LEADER = "xcmg"
# A member joins its group after about half its session timeout on the embedded broker.
QUICK_JOIN = {"session.timeout.ms": "2000", "heartbeat.interval.ms": "300"}
OFFER = {"own rows": 1, "masked price": 2, "projection": 3}


@dataclass
class Chain:
    """``xcmg`` publishing a product of its own to suppliers of this test."""

    space: Space
    settings: Settings
    unique: str
    tmp: Path
    product: str = field(init=False)
    agreements: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.product = f"po-{self.unique}"
        self.space.member(LEADER, role="chain_leader")
        self.space.product(self.product, offers=(OWN_ROWS, MASKED_PRICE, PROJECTED))

    @property
    def db(self) -> Any:
        return self.space.db

    def supplier(self, number: int) -> str:
        return f"s{self.unique}-{number:02d}"

    def agree(self, number: int, offer: str, *, valid_until: datetime | None = None) -> str:
        """Admit supplier ``number`` and conclude an agreement on ``offer`` with it."""
        supplier = self.supplier(number)
        self.space.member(supplier, chains=(CHAIN,))
        agreement_id = self.space.agree(
            supplier, self.product, provider=LEADER, offer=OFFER[offer], valid_until=valid_until
        )
        self.agreements[supplier] = agreement_id
        return agreement_id

    # -- the provider ---------------------------------------------------------------------

    def orders(self, week: int) -> pa.Table:
        """The demo's purchase orders of ``week``, ordered from this test's suppliers."""
        table = demo_data.purchase_orders(week)
        ours = pc.replace_substring(table.column("supplier_id"), "supplier-", f"s{self.unique}-")
        index = table.schema.get_field_index("supplier_id")
        return table.set_column(index, table.schema.field(index), ours)

    def publish(
        self, table: pa.Table, name: str, *, progress: Progress | None = None
    ) -> PublishSummary:
        source = demo_data.write_parquet(table, self.tmp / "inputs" / f"{name}.parquet")
        with closing(Node(self.settings, self.db, self.space.keys)) as node:
            return publish(
                node, product_id=self.product, provider=LEADER, source=source, progress=progress
            )

    # -- the subscribers ------------------------------------------------------------------

    def landing(self, supplier: str) -> Path:
        return self.tmp / "landing" / supplier

    def control(self, supplier: str) -> LocalControlPlane:
        presign = presigner(self.settings.s3(), self.settings.release_bucket)
        return LocalControlPlane(self.db, self.space.keys, presign, supplier)

    def receive(self, supplier: str, *, resync: bool = False) -> SubscribeSummary:
        """One ``dataspace subscribe --as <supplier> --once [--resync]``, in process."""
        quick = self.settings.model_copy(update={"kafka_options": QUICK_JOIN})
        options = SubscribeOptions(once=True, resync=resync, idle_seconds=1.0)
        return subscribe(quick, self.control(supplier), self.landing(supplier), options)

    def receive_all(
        self, suppliers: Iterable[str], *, resync: bool = False
    ) -> dict[str, SubscribeSummary]:
        """Every supplier's agent once, side by side as on separate machines."""
        chosen = list(suppliers)
        with ThreadPoolExecutor(len(chosen), thread_name_prefix="agent") as agents:
            runs = [agents.submit(self.receive, s, resync=resync) for s in chosen]
            return dict(zip(chosen, (run.result() for run in runs), strict=True))

    # -- what happened --------------------------------------------------------------------

    def own_rows(self, table: pa.Table, supplier: str) -> pa.Table:
        return table.filter(pc.equal(table.column("supplier_id"), supplier))

    def landed(self, supplier: str, version: int) -> pa.Table:
        return pq.read_table(self.landing(supplier) / self.part(version))

    def landed_files(self, supplier: str) -> list[str]:
        """Every file under the supplier's landing directory except its own record."""
        root = self.landing(supplier)
        if not root.exists():
            return []
        files = (p for p in root.rglob("*") if p.is_file() and p.name != ".landed.sqlite3")
        return sorted(str(p.relative_to(root)) for p in files)

    def part(self, version: int) -> str:
        return f"{self.product}/{version}/part-0.parquet"

    def deliveries(self) -> dict[str, tuple[str, str]]:
        """Delivery id -> (subscriber, state), for this product."""
        with self.db.transaction() as session:
            rows = session.scalars(select(DeliveryRow).order_by(DeliveryRow.id))
            return {row.id: (row.subscriber_id, row.state) for row in rows}

    def receipts(self) -> list[tuple[str, str]]:
        """(actor, delivery id) of every ``delivery.received`` ledger entry, in order."""
        query = select(LedgerEntryRow).where(LedgerEntryRow.action == "delivery.received")
        with self.db.transaction() as session:
            entries = session.scalars(query.order_by(LedgerEntryRow.sequence))
            return [(entry.actor, entry.subject_ids[0]) for entry in entries]


def landed_ids(summary: SubscribeSummary) -> list[str]:
    return sorted(item.delivery.delivery_id for item in summary.landed)


def no_partials(root: Path) -> bool:
    return not any(path.name.endswith(PARTIAL_SUFFIX) for path in root.rglob("*"))
