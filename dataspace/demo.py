"""`make demo`: a construction-machinery chain on the embedded stack, end to end.

The story, each step through the real services, broker and object store:

1. the operator admits a chain leader (XCMG) and four SME suppliers;
2. XCMG offers weekly purchase orders (each supplier sees its own rows; one offer masks the
   price) and demand forecasts; the suppliers conclude signed agreements, one of which has
   already expired;
3. XCMG publishes week 1; every supplier's agent lands exactly its own rows, verified and
   receipted; the expired agreement gets nothing;
4. a release with bad data is quarantined and reaches nobody;
5. XCMG revokes one agreement and publishes week 2: the revoked supplier gets nothing;
6. the evidence ledger verifies.

The demo checks its own story and fails (exit non-zero) if any step does not hold. It keeps
its control plane in ``<state_dir>/demo`` and its objects in the bucket ``dataspace-demo``,
both started afresh on each run.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from dataspace import demo_data
from dataspace.adapters.s3 import ensure_bucket, minio_client, presigner
from dataspace.config import Settings
from dataspace.controlplane import agreements, ledger
from dataspace.errors import DataspaceError
from dataspace.identity.keystore import KeyStore
from dataspace.node import Node
from dataspace.publishing.publish import PublishSummary, publish
from dataspace.scenario import Scenario, masked, own_rows_offer
from dataspace.store.db import Database, upgrade_schema
from dataspace.store.types import utcnow

LEADER = "xcmg"
SUPPLIERS = ("supplier-01", "supplier-02", "supplier-03", "supplier-04")
BUCKET = "dataspace-demo"
ORDERS, FORECASTS = "purchase-orders", "demand-forecasts"
SHA256_HEX_LENGTH = 64


class DemoFailed(DataspaceError):
    """A step of the demo's story did not hold."""


@dataclass
class Demo:
    node: Node  # its own control plane, key store and release bucket in the demo's workdir
    workdir: Path
    agreements: dict[tuple[str, str], str] = field(default_factory=dict)
    rounds: list[tuple[str, PublishSummary, float]] = field(default_factory=list)
    scenario: Scenario = field(init=False)

    def __post_init__(self) -> None:
        self.scenario = Scenario(self.db, self.keys, self.node.artifacts)

    @property
    def settings(self) -> Settings:
        return self.node.settings

    @property
    def db(self) -> Database:
        return self.node.db

    @property
    def keys(self) -> KeyStore:
        return self.node.keys


def run_demo(settings: Settings, console: Console) -> None:
    demo = _fresh_demo(settings)
    try:
        _admit_members(demo)
        _offer_products(demo)
        _conclude_agreements(demo)
        console.print("Members admitted, products offered, agreements signed by both parties.")
        _deliver(
            demo,
            "week 1",
            [(ORDERS, demo_data.purchase_orders(0)), (FORECASTS, demo_data.demand_forecasts(0))],
        )
        _expect_landed(demo, {"supplier-01": 2, "supplier-02": 1, "supplier-03": 1})
        _check_views(demo)
        bad = demo_data.spoiled(demo_data.purchase_orders(1), "quantity")
        _deliver(demo, "bad data", [(ORDERS, bad)])
        agreements.revoke(
            demo.db, demo.keys, actor=LEADER, agreement_id=demo.agreements[(ORDERS, "supplier-03")]
        )
        _deliver(demo, "week 2", [(ORDERS, demo_data.purchase_orders(1))])
        _expect_landed(demo, {"supplier-01": 3, "supplier-02": 2, "supplier-03": 1})
        _verify_ledger(demo, console)
        console.print(_summary(demo))
        console.print(f"Landed files: {demo.workdir / 'landing'}/<supplier>/<product>/<version>/")
    finally:
        demo.node.close()


def _fresh_demo(settings: Settings) -> Demo:
    workdir = settings.state_dir / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    client = minio_client(settings.s3())
    ensure_bucket(client, BUCKET)
    for item in client.list_objects(BUCKET, recursive=True):
        client.remove_object(BUCKET, item.object_name)
    url = f"sqlite:///{workdir / 'control-plane.db'}"
    demo_settings = settings.model_copy(update={"database_url": url, "release_bucket": BUCKET})
    database = Database(url)
    upgrade_schema(database)
    return Demo(Node(demo_settings, database, KeyStore(workdir / "keys"), owns_db=True), workdir)


def _admit_members(demo: Demo) -> None:
    joined = utcnow() - timedelta(days=90)  # members joined a quarter ago
    cast = demo.scenario
    cast.operator("江苏省数据枢纽（演示）", now=joined)
    cast.member(LEADER, "chain_leader", name="徐工集团（演示）", now=joined)
    for supplier in SUPPLIERS:
        cast.member(supplier, name=f"配套企业 {supplier[-2:]}（演示）", now=joined)


def _offer_products(demo: Demo) -> None:
    price = masked("unit_price_cny")
    demo.scenario.product(
        ORDERS,
        owner=LEADER,
        titles=("周度采购订单", "Weekly purchase orders"),
        offers=(
            own_rows_offer("urn:demo:orders:own-rows"),
            own_rows_offer("urn:demo:orders:masked-price", price),
        ),
    )
    demo.scenario.product(
        FORECASTS,
        owner=LEADER,
        schema="demand_forecasts",
        titles=("滚动需求预测", "Rolling demand forecasts"),
        offers=(own_rows_offer("urn:demo:forecasts:own-rows"),),
    )


def _conclude_agreements(demo: Demo) -> None:
    now = utcnow()
    month_ago, two_months_ago = now - timedelta(days=30), now - timedelta(days=60)
    terms: list[tuple[str, str, int, datetime | None, datetime | None]] = [
        (ORDERS, "supplier-01", 1, None, None),
        (FORECASTS, "supplier-01", 1, None, None),
        (ORDERS, "supplier-02", 2, None, None),  # the price is masked for supplier-02
        (ORDERS, "supplier-03", 1, None, None),
        (ORDERS, "supplier-04", 1, two_months_ago, month_ago),  # one month, long over
    ]
    for product, supplier, offer, concluded, valid_until in terms:
        demo.agreements[(product, supplier)] = demo.scenario.agree(
            supplier, product, provider=LEADER, offer=offer, valid_until=valid_until,
            now=concluded,
        )  # fmt: skip


def _deliver(demo: Demo, label: str, releases: list[tuple[str, pa.Table]]) -> None:
    """Publish each release, then let every supplier's agent land what is due to it."""
    began = time.monotonic()
    published = []
    for product, table in releases:
        source = demo_data.write_parquet(table, demo.workdir / "outbox" / f"{product}.parquet")
        summary = publish(demo.node, product_id=product, provider=LEADER, source=source)
        published.append((label, summary))
    with ThreadPoolExecutor(len(SUPPLIERS)) as pool:
        list(pool.map(lambda supplier: _subscribe_once(demo, supplier), SUPPLIERS))
    elapsed = time.monotonic() - began
    demo.rounds += [(name, summary, elapsed) for name, summary in published]


def _subscribe_once(demo: Demo, supplier: str) -> None:
    from dataspace.agent.control_plane import LocalControlPlane  # noqa: PLC0415
    from dataspace.agent.subscriber import SubscribeOptions, subscribe  # noqa: PLC0415

    presign = presigner(demo.settings.s3(), BUCKET)
    control = LocalControlPlane(demo.db, demo.keys, presign, supplier)
    subscribe(demo.settings, control, _landing(demo, supplier), SubscribeOptions(once=True))


def _landing(demo: Demo, supplier: str) -> Path:
    return demo.workdir / "landing" / supplier


def _landed_files(demo: Demo, supplier: str) -> list[Path]:
    return sorted(_landing(demo, supplier).rglob("*.parquet"))


def _expect_landed(demo: Demo, expected: dict[str, int]) -> None:
    for supplier in SUPPLIERS:
        found = len(_landed_files(demo, supplier))
        if found != expected.get(supplier, 0):
            raise DemoFailed(
                f"{supplier} holds {found} landed releases, expected {expected.get(supplier, 0)};"
                f" see the logs above and {_landing(demo, supplier)}."
            )


def _check_views(demo: Demo) -> None:
    """Each supplier holds only its own rows; supplier-02 sees hashed prices only."""
    for supplier in SUPPLIERS:
        for path in _landed_files(demo, supplier):
            table = pq.read_table(path)
            owners = set(pc.unique(table.column("supplier_id")).to_pylist())
            if owners != {supplier}:
                raise DemoFailed(f"{path} holds rows of {sorted(owners)}, not only {supplier}.")
    prices = pq.read_table(_landed_files(demo, "supplier-02")[0]).column("unit_price_cny")
    if not all(len(str(value)) == SHA256_HEX_LENGTH for value in prices.to_pylist()):
        raise DemoFailed("supplier-02's unit prices are not masked.")


def _verify_ledger(demo: Demo, console: Console) -> None:
    result = ledger.verify(demo.db)
    if not result.ok:
        raise DemoFailed(result.message())
    console.print(f"Ledger: {result.message()}")


def _summary(demo: Demo) -> Table:
    table = Table(title="Dataspace demo: a construction-machinery chain", show_lines=True)
    for column in ("step", "release", "status", "delivered (rows, bytes)", "not delivered", "time"):
        table.add_column(column)
    for step, summary, seconds in demo.rounds:
        delivered = [
            f"{line.subscriber} ({line.rows}, {line.bytes} B)" for line in summary.delivered
        ]
        refused = [
            f"{line.subscriber}: {line.reason}" for line in summary.deliveries if line.reason
        ]
        table.add_row(
            step,
            f"{summary.product_id} v{summary.version}",
            summary.status if summary.status == "accepted" else f"[red]{summary.status}[/]",
            "\n".join(delivered) or "none",
            "\n".join(refused),
            f"{seconds:.1f} s",
        )
    return table
