"""`make demo`: a construction-machinery chain, each party in its own process and directory.

The hub (the operator's node, holding only the operator's key) and every participant's
connector (holding only that participant's key) are separate OS processes with separate state
directories under ``<state_dir>/demo/``, reaching each other only over HTTP, Kafka and
presigned S3 URLs (:mod:`dataspace.federation`). Every step is a `dataspace` command as that
party would type it on its own machine. The story:

1. the operator sets up the hub; XCMG (chain leader) and four SME suppliers each make their
   key on their own connector and register; the operator admits them;
2. XCMG's connector registers weekly purchase orders (each supplier sees its own rows; one
   offer masks the price) and demand forecasts; each agreement is signed by XCMG on its
   connector and by the supplier on its own, then filed by the hub; one runs out at once;
3. XCMG publishes week 1 from its connector into its own bucket; every supplier's agent asks
   XCMG's connector for a grant and lands exactly its own rows, verified and receipted; the
   expired agreement gets nothing;
4. a release with bad data is quarantined and reaches nobody;
5. XCMG revokes supplier-03's agreement and the operator suspends supplier-02; week 2 reaches
   supplier-01 only: supplier-02's grant is refused by XCMG's connector, supplier-03 was never
   announced one;
6. the ledger verifies offline, with the keys the participants' own connectors hold.

The demo checks its own story and fails (exit non-zero) if a step does not hold, and prints
where each party's state lives and which private keys each holds.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from dataspace import demo_data
from dataspace.config import Settings
from dataspace.errors import DataspaceError
from dataspace.federation import CommandFailed, Federation, Party
from dataspace.identity.uscc import make_uscc
from dataspace.scenario import OPERATOR_USCC, masked, own_rows_offer

LEADER = "xcmg"
SUPPLIERS = ("supplier-01", "supplier-02", "supplier-03", "supplier-04")
ORDERS, FORECASTS = "purchase-orders", "demand-forecasts"
CHAIN = "construction-machinery"
SHA256_HEX_LENGTH = 64
LANDING_TIMEOUT_SECONDS = 60.0
SHORT_TERM_SECONDS = 20  # supplier-04's agreement: long enough to be signed by both


class DemoFailed(DataspaceError):
    """A step of the demo's story did not hold."""


@dataclass
class Demo:
    space: Federation
    console: Console
    agreements: dict[tuple[str, str], str] = field(default_factory=dict)
    rounds: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.space.root


def run_demo(settings: Settings, console: Console) -> None:
    root = settings.state_dir / "demo"
    shutil.rmtree(root, ignore_errors=True)
    with Federation(root, settings) as space:
        demo = Demo(space, console)
        _set_up_parties(demo)
        _offer_products(demo)
        expires = _conclude_agreements(demo)
        console.print("Members admitted, products offered, agreements signed on both connectors.")
        _start_agents(demo)
        _wait_until(expires)
        _deliver(demo, "week 1", [(ORDERS, demo_data.purchase_orders(0)),
                                  (FORECASTS, demo_data.demand_forecasts(0))])  # fmt: skip
        _expect_landed(demo, {"supplier-01": 2, "supplier-02": 1, "supplier-03": 1})
        _check_views(demo)
        bad = demo_data.spoiled(demo_data.purchase_orders(1), "quantity")
        _deliver(demo, "bad data", [(ORDERS, bad)])
        space.connector(LEADER, "agreement", "revoke", demo.agreements[(ORDERS, "supplier-03")])
        _suspend_and_publish(demo)
        _verify_offline(demo)
        console.print(_summary(demo))
        console.print(_parties(demo))


def _set_up_parties(demo: Demo) -> None:
    space = demo.space
    space.start_hub(name="江苏省数据枢纽（演示）", uscc=OPERATOR_USCC)
    space.join(
        LEADER, name="徐工集团（演示）", uscc=make_uscc("91320300MA0000001"),
        roles=("chain_leader",), chains=(CHAIN,), provider=True,
    )  # fmt: skip
    for number, supplier in enumerate(SUPPLIERS, start=1):
        space.join(
            supplier, name=f"配套企业 {supplier[-2:]}（演示）",
            uscc=make_uscc(f"9132050{number:010d}"), roles=("supplier",), chains=(CHAIN,),
        )  # fmt: skip
    for participant in (LEADER, *SUPPLIERS):
        space.operator("participant", "admit", participant)
    space.serve(LEADER)


def _offer_products(demo: Demo) -> None:
    offers = demo.root / "offers"
    offers.mkdir(parents=True, exist_ok=True)
    files = {
        "own-rows": own_rows_offer("urn:demo:orders:own-rows"),
        "masked-price": own_rows_offer("urn:demo:orders:masked-price", masked("unit_price_cny")),
        "forecasts": own_rows_offer("urn:demo:forecasts:own-rows"),
    }
    for name, offer in files.items():
        (offers / f"{name}.json").write_text(json.dumps(offer), encoding="utf-8")
    _product(demo, ORDERS, "purchase_orders", ("周度采购订单", "Weekly purchase orders"),
             [offers / "own-rows.json", offers / "masked-price.json"])  # fmt: skip
    _product(demo, FORECASTS, "demand_forecasts", ("滚动需求预测", "Rolling demand forecasts"),
             [offers / "forecasts.json"])  # fmt: skip


def _product(
    demo: Demo, product: str, schema: str, titles: tuple[str, str], offers: list[Path]
) -> None:
    args = ["product", "create", "--id", product, "--title-zh", titles[0]]
    args += ["--title-en", titles[1], "--schema", schema, "--suite", schema, "--chain", CHAIN]
    for offer in offers:
        args += ["--offer", str(offer)]
    demo.space.connector(LEADER, *args)


def _conclude_agreements(demo: Demo) -> datetime:
    """Every agreement signed by XCMG and the supplier, each on its own connector, then filed
    by the hub. supplier-04's is concluded first and runs out shortly after; returns when."""
    short_until = datetime.now(UTC) + timedelta(seconds=SHORT_TERM_SECONDS)
    terms: list[tuple[str, str, int, datetime | None]] = [
        (ORDERS, "supplier-04", 1, short_until),  # over before week 1 is published
        (ORDERS, "supplier-01", 1, None),
        (FORECASTS, "supplier-01", 1, None),
        (ORDERS, "supplier-02", 2, None),  # the price is masked for supplier-02
        (ORDERS, "supplier-03", 1, None),
    ]
    for product, supplier, offer, until in terms:
        args = ["agreement", "request", "--product", product, "--purpose", "supply-planning"]
        args += ["--offer", f"{product}-offer-{offer}"]
        if until is not None:
            args += ["--valid-until", until.isoformat()]
        requested = demo.space.connector(supplier, *args)
        agreement = requested["agreement_id"]
        demo.space.connector(LEADER, "agreement", "sign", agreement)
        filed = demo.space.connector(supplier, "agreement", "sign", agreement)
        if filed["state"] != "FINALIZED":
            raise DemoFailed(f"{agreement} is {filed['state']} after both signed, not FINALIZED.")
        demo.agreements[(product, supplier)] = agreement
    return short_until


def _start_agents(demo: Demo) -> None:
    for supplier in SUPPLIERS:
        demo.space.subscribe(supplier)


def _wait_until(moment: datetime) -> None:
    remaining = (moment - datetime.now(UTC)).total_seconds()
    if remaining > 0:
        time.sleep(remaining + 0.5)


def _deliver(
    demo: Demo,
    label: str,
    releases: list[tuple[str, pa.Table]],
    away: frozenset[str] = frozenset(),
) -> None:
    """XCMG publishes each release from its connector; wait until the agents landed theirs
    (but for the ``away`` subscribers, whose agents are not running)."""
    began = time.monotonic()
    published = []
    for product, table in releases:
        source = demo_data.write_parquet(table, demo.root / "xcmg-files" / f"{product}.parquet")
        outcome = demo.space.connector(LEADER, "publish", "--product", product, str(source),
                                       check=False)  # fmt: skip
        summary = _published(outcome, product)
        published.append(summary)
    expected = {
        line["subscriber"]
        for summary in published
        for line in summary.get("deliveries", [])
        if line.get("reason") is None and summary["status"] == "accepted"
    }
    _wait_for_receipts(demo, published, expected - away)
    elapsed = time.monotonic() - began
    demo.rounds += [(label, summary, elapsed) for summary in published]


def _published(outcome: Any, product: str) -> dict[str, Any]:
    if isinstance(outcome, CommandFailed):
        quarantined = 8
        if outcome.code != quarantined:
            raise outcome
        summary: dict[str, Any] = json.loads(outcome.stdout or "{}") or {
            "product_id": product, "status": "quarantined", "deliveries": [],
        }  # fmt: skip
        return summary
    return dict(outcome)


def _wait_for_receipts(demo: Demo, published: list[dict[str, Any]], subscribers: set[str]) -> None:
    """Until every subscriber with a delivery of these releases holds it, verified."""
    wanted = {
        (line["subscriber"], summary["product_id"], summary["version"])
        for summary in published
        if summary["status"] == "accepted"
        for line in summary.get("deliveries", [])
        if line.get("reason") is None and line["subscriber"] in subscribers
    }
    deadline = time.monotonic() + LANDING_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if all(_landed_version(demo, *item) for item in wanted):
            return
        time.sleep(0.2)
    missing = sorted(item for item in wanted if not _landed_version(demo, *item))
    raise DemoFailed(
        f"Not landed within {LANDING_TIMEOUT_SECONDS:.0f} s: {missing}; see {demo.space.logs}."
    )


def _landing(demo: Demo, supplier: str) -> Path:
    return demo.space.parties[supplier].state / "landed"


def _landed_version(demo: Demo, supplier: str, product: str, version: int) -> bool:
    return any((_landing(demo, supplier) / product / str(version)).glob("*.parquet"))


def _landed_files(demo: Demo, supplier: str) -> list[Path]:
    return sorted(_landing(demo, supplier).rglob("*.parquet"))


def _expect_landed(demo: Demo, expected: dict[str, int]) -> None:
    for supplier in SUPPLIERS:
        found = len(_landed_files(demo, supplier))
        if found != expected.get(supplier, 0):
            raise DemoFailed(
                f"{supplier} holds {found} landed releases, expected {expected.get(supplier, 0)};"
                f" see {demo.space.logs} and {_landing(demo, supplier)}."
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


def _suspend_and_publish(demo: Demo) -> None:
    """supplier-02's agent is stopped while week 2 is announced to it; then the operator
    suspends supplier-02, and when its agent asks for the grant, XCMG's connector refuses it
    (the hub, asked at that moment, says: suspended)."""
    space = demo.space
    space.stop("supplier-02-agent")
    _deliver(demo, "week 2", [(ORDERS, demo_data.purchase_orders(1))], frozenset({"supplier-02"}))
    space.operator("participant", "suspend", "supplier-02")
    caught_up = space.connector("supplier-02", "subscribe", "--once", "--resync", check=False)
    _expect_landed(demo, {"supplier-01": 3, "supplier-02": 1, "supplier-03": 1})
    demo.console.print(
        "supplier-02 (suspended) asked for week 2 again: "
        + ("refused" if _refused(caught_up) else "[red]not refused[/]")
    )
    if not _refused(caught_up):
        raise DemoFailed("supplier-02 was suspended, but its grant for week 2 was not refused.")


def _refused(outcome: Any) -> bool:
    if isinstance(outcome, CommandFailed):
        return "suspended" in outcome.stderr + outcome.stdout
    return bool(outcome and outcome.get("refused"))


def _verify_offline(demo: Demo) -> None:
    """Export the hub's ledger and check it with the keys the connectors hold, nothing else."""
    space = demo.space
    keys = {p: space.connector(p, "status")["public_key"] for p in (LEADER, *SUPPLIERS)}
    keys["operator"] = space.operator("participant", "show", "operator")["public_key"]
    keys_file, exported = (
        demo.root / "auditor" / "keys.json",
        demo.root / "auditor" / "ledger.jsonl",
    )
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    keys_file.write_text(json.dumps(keys, indent=2), encoding="utf-8")
    space.operator("ledger", "export", str(exported))
    result = space.run(
        ["ledger", "verify", "--offline", str(exported), "--keys", str(keys_file)],
        {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        check=False,
    )
    if isinstance(result, CommandFailed):
        raise DemoFailed(f"The ledger does not verify offline: {result.stdout or result.stderr}")
    demo.console.print(f"Ledger (offline, with the participants' own keys): {result['message']}")


def _summary(demo: Demo) -> Table:
    table = Table(title="Dataspace demo: a construction-machinery chain", show_lines=True)
    for column in ("step", "release", "status", "delivered (rows)", "not delivered", "time"):
        table.add_column(column, overflow="fold")  # wrap, never cut an id with "…"
    for step, summary, seconds in demo.rounds:
        lines = summary.get("deliveries", [])
        delivered = [f"{line['subscriber']} ({line['rows']})" for line in lines
                     if line.get("reason") is None]  # fmt: skip
        refused = [f"{line['subscriber']} {_why(line['reason'])}" for line in lines
                   if line.get("reason")]  # fmt: skip
        status = summary["status"]
        table.add_row(
            step,
            f"{summary['product_id']} v{summary.get('version', '?')}",
            status if status == "accepted" else f"[red]{status}[/]",
            "\n".join(delivered) or "none",
            "\n".join(refused),
            f"{seconds:.1f} s",
        )
    return table


def _why(reason: str) -> str:
    """The short form of a refusal: "the agreement has ended (expired)" -> "(expired)"."""
    start = reason.rfind("(")
    return reason[start:] if start >= 0 and reason.endswith(")") else f"({reason})"


def _parties(demo: Demo) -> Table:
    table = Table(title="Who runs what, and which private keys each holds", show_lines=True)
    for column in ("party", "process", "state directory", "private keys held"):
        table.add_column(column, overflow="fold")
    hub_keys = sorted(p.stem for p in (demo.space.hub_state / "keys").glob("*.pem"))
    table.add_row("operator", "hub serve", "hub/", ", ".join(hub_keys))
    for name, party in demo.space.parties.items():
        held = sorted(p.stem for p in (party.state / "keys").glob("*.pem"))
        process = "connector serve" if party.port else "connector subscribe"
        table.add_row(name, process, f"{party.state.relative_to(demo.root)}/", ", ".join(held))
    table.caption = f"state directories under {demo.root}; logs in {demo.space.logs}"
    return table


__all__ = ["DemoFailed", "Party", "run_demo"]
