"""The deployments measured by ``benchmarks/split_delivery.py``: their setup and their clocks.

- :func:`single`: one node holding every key; the subscriber's agent runs in a thread of this
  process with ``LocalControlPlane``; it publishes with ``publish(node, ...)`` (path
  ``single``) or as ``dataspace publish`` (``single-cli``);
- :func:`split`: ``dataspace hub serve``, the provider's connector (``connector serve``
  answers grants) and the subscriber's connector, whose agent (``connector subscribe``) is a
  process of its own (:class:`BenchFederation`); it publishes with
  ``publish_from_connector(...)`` (``split``) or as ``dataspace connector publish``
  (``split-cli``).

Each yields a :class:`Deployment` whose agent has started and received one small delivery;
:meth:`Deployment.deliver` publishes a file one way and returns, in seconds from the start of
the publish, when the announcement was recorded and relayed (the control plane's outbox), the
download started, the file landed and its receipt was recorded (:class:`Watch`), with the
time the in-process publish spent in control-plane calls (:func:`timed_desks`, on ``DESK``).
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import select

from benchmarks.delivery_paths import Agents, Clock, counting_assignments
from benchmarks.delivery_world import AVRO, LEADER, OWN_ROWS, SCHEMA, supplier
from benchmarks.synthetic import batches
from dataspace.adapters.s3 import presigner
from dataspace.agent.control_plane import LocalControlPlane
from dataspace.config import Settings
from dataspace.connector.release_desk import HubDesk, publish_from_connector
from dataspace.connector.remote_control_plane import RemoteControlPlane
from dataspace.connector.state import load_config, open_connector, save_config
from dataspace.controlplane.releases import delivery_id
from dataspace.dataplane.download import PARTIAL_SUFFIX, landing_path
from dataspace.dataplane.parquet_io import WRITER_OPTIONS
from dataspace.dataplane.schema_check import arrow_schema
from dataspace.events.registry import default_registry
from dataspace.federation import Federation, Party
from dataspace.identity.uscc import make_uscc
from dataspace.node import Node
from dataspace.publishing.desk import LocalDesk
from dataspace.publishing.publish import publish
from dataspace.scenario import CHAIN, OPERATOR_USCC, PURPOSE, Scenario
from dataspace.store.db import Database
from dataspace.store.models import DeliveryRow, OutboxRow

WARM_UP_ROWS = 10_000
POLL_SECONDS = 0.005  # a 2.5 MB download takes ~20 ms
LAND_TIMEOUT_SECONDS = 600.0
PROVIDER = "bench-provider"
SINGLE_PRODUCT, SPLIT_PRODUCT = "split-bench-single", "split-bench-connector"
# Two subscribers, so the two agents (one broker, one announcement topic) are in two groups;
# each gets its own files, the same rows but for the supplier_id.
SINGLE_NUMBER, SPLIT_NUMBER = 1, 2
SINGLE_SUBSCRIBER, SPLIT_SUBSCRIBER = supplier(SINGLE_NUMBER), supplier(SPLIT_NUMBER)
TITLES = ("采购订单（拆分基准）", "Purchase orders (split benchmark)")
DESK_CALLS = ("plan", "recipients", "renew", "record_publication")
DESK = Clock()  # the control-plane calls of an in-process publish, node's or hub's


@dataclass(frozen=True)
class Inputs:
    """One subscriber's files: the timed release and a small warm-up one, every row its own."""

    full: Path
    warm_up: Path


def write_inputs(directory: Path, rows: int, number: int) -> tuple[Inputs, int]:
    """The files of ``supplier(number)``, and the Arrow bytes of the full one."""
    inputs = Inputs(directory / f"orders-{number}.parquet", directory / f"warm-up-{number}.parquet")
    _write_orders(inputs.warm_up, WARM_UP_ROWS, number)
    return inputs, _write_orders(inputs.full, rows, number)


def _write_orders(path: Path, rows: int, number: int) -> int:
    arrow_bytes, schema = 0, arrow_schema(AVRO)
    with pq.ParquetWriter(path, schema, **WRITER_OPTIONS) as writer:
        for batch in batches(rows, 1, first_supplier=number, schema=schema):
            arrow_bytes += batch.nbytes
            writer.write_batch(batch, row_group_size=128 * 1024)
    return arrow_bytes


class Publishing(threading.Thread):
    """A publish running while the main thread watches its delivery."""

    def __init__(self, call: Callable[[], dict[str, Any]]) -> None:
        super().__init__(name="publish", daemon=True)
        self._call = call
        self.summary: dict[str, Any] = {}
        self.ended = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.summary = self._call()
        except BaseException as exc:  # noqa: BLE001 (raised again by the watching thread)
            self.error = exc
        self.ended = time.time()

    def check(self, version: int) -> None:
        """Raise if the publish failed or made another version than the one watched."""
        if self.error is not None:
            raise RuntimeError("the publish failed") from self.error
        made = self.summary.get("version")
        if made is not None and made != version:
            raise RuntimeError(f"the publish made version {made}, not the {version} watched")


@dataclass(frozen=True)
class Watch:
    """Where a deployment's deliveries show: its control plane's database (the node's or the
    hub's, read here) and the subscriber's landing directory."""

    db: Database
    landing: Path
    product: str
    agreement: str
    subscriber: str

    def delivered(
        self, version: int, began: float, publishing: Publishing | None = None
    ) -> dict[str, float]:
        """Seconds from ``began`` until the download started, the file landed and the
        receipt was recorded (a download shorter than a poll is not seen starting)."""
        final = landing_path(self.landing, self.product, version)
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        delivery, marks = delivery_id(self.agreement, version), dict[str, float]()
        while "receipted" not in marks:
            now = time.time()
            if partial.exists():
                marks.setdefault("download", now)
            if final.exists():
                marks.setdefault("landed", now)
            # The receipt follows the landing: the database is read only from then on.
            if "landed" in marks and self._state(delivery) == "landed":
                marks["receipted"] = now
            if publishing is not None:
                publishing.check(version)
            if now - began > LAND_TIMEOUT_SECONDS:
                raise TimeoutError(f"{delivery} not receipted in {LAND_TIMEOUT_SECONDS:.0f} s")
            time.sleep(POLL_SECONDS)
        return {name: at - began for name, at in marks.items()}

    def announced(self, began: float) -> dict[str, float]:
        """When the control plane recorded the newest announcement to the subscriber (its
        outbox row, written with the release) and when it relayed it to Kafka."""
        topic = default_registry().topic("DeliveryAnnounced", self.subscriber)
        newest = (
            select(OutboxRow.created_at, OutboxRow.sent_at)
            .where(OutboxRow.topic == topic, OutboxRow.key == self.subscriber)
            .order_by(OutboxRow.id.desc())
            .limit(1)
        )
        with self.db.transaction(read_only=True) as session:
            recorded, relayed = session.execute(newest).one()
        marks = {"recorded": recorded.timestamp() - began}
        if relayed is not None:
            marks["relayed"] = relayed.timestamp() - began
        return marks

    def _state(self, delivery: str) -> str | None:
        with self.db.transaction(read_only=True) as session:
            return session.scalar(select(DeliveryRow.state).where(DeliveryRow.id == delivery))


@dataclass
class Deployment:
    """One way of delivering: publishing a file in this process or as a user's command
    (``publishers["in-process"]``, ``publishers["cli"]``), and where the delivery shows."""

    watch: Watch
    inputs: Inputs
    publishers: Mapping[str, Callable[[Path], dict[str, Any]]]
    probes: Mapping[str, Callable[[str], object]]
    version: int = 0  # the last one published
    agent_start_s: float = 0.0

    def deliver(self, how: str, source: Path) -> dict[str, Any]:
        """Publish ``source`` the way ``how``; wait until landed and receipted; the times."""
        version, desk_before = self.version + 1, _total(DESK)
        began = time.time()
        publishing = Publishing(lambda: self.publishers[how](source))
        publishing.start()
        marks = self.watch.delivered(version, began, publishing)
        publishing.join()
        publishing.check(version)
        self.version = version
        summary = publishing.summary
        delivered = [line for line in summary["deliveries"] if line["reason"] is None]
        if len(delivered) != 1 or delivered[0]["rows"] != summary["rows"]:
            raise RuntimeError(f"not one view of every row delivered: {summary['deliveries']}")
        announced = self.watch.announced(began)
        figures = {
            **marks,
            **announced,
            "version": version,
            "publish_s": publishing.ended - began,  # the call, or the CLI process
            "call_s": float(summary["seconds"]),  # publish() itself, as its summary says
            "desk_s": None if how == "cli" else _total(DESK) - desk_before,
            "view_rows": delivered[0]["rows"],
            "view_bytes": delivered[0]["bytes"],
        }
        return {**figures, **(_cli_parts(figures) if how == "cli" else {})}

    def start_agent(self, start: Callable[[], object]) -> None:
        """Publish a small release as a user would (it waits in Kafka), start the agent and
        time it until that delivery is receipted: start-up, group join, one small delivery.
        Then one small publish in this process, so that the timed ones find it warm."""
        self.version = int(self.publishers["cli"](self.inputs.warm_up)["version"])
        began = time.time()
        start()
        self.agent_start_s = self.watch.delivered(self.version, began)["receipted"]
        self.deliver("in-process", self.inputs.warm_up)

    def probe(self, times: int = 5) -> dict[str, float]:
        """Median seconds of each probe, asked about the last delivery (a grant is idempotent)."""
        delivery = delivery_id(self.watch.agreement, self.version)
        return {
            name: round(statistics.median(_seconds(call, delivery) for _ in range(times)), 4)
            for name, call in self.probes.items()
        }


def _cli_parts(figures: dict[str, Any]) -> dict[str, float]:
    """A CLI's start-up (before publish()) and exit (after it, off the delivery's path).
    publish() ends when the announcement is relayed: a node relays at its end, and the hub
    relays a connector's manifest before it answers."""
    ended = max(figures["recorded"], figures.get("relayed", figures["recorded"]))
    return {"cli_start_s": ended - figures["call_s"], "cli_exit_s": figures["publish_s"] - ended}


def _seconds(call: Callable[[str], object], argument: str) -> float:
    started = time.perf_counter()
    call(argument)
    return time.perf_counter() - started


def _total(clock: Clock) -> float:
    return sum(sum(times) for times in list(clock.steps.values()))


@contextmanager
def timed_desks() -> Iterator[None]:
    """Time the control-plane calls of an in-process publish (the node's, or the hub's over
    HTTP), on DESK."""
    originals = [(d, name, getattr(d, name)) for d in (LocalDesk, HubDesk) for name in DESK_CALLS]
    for desk, name, original in originals:
        setattr(desk, name, DESK.timed(f"{desk.__name__}.{name}", original))
    try:
        yield
    finally:
        for desk, name, original in originals:
            setattr(desk, name, original)


# -- single: one node with every key ----------------------------------------------------------


def single_world(node: Node) -> str:
    """Operator, provider, subscriber and the product under an own-rows offer: the
    subscriber's agreement."""
    cast = Scenario(node.db, node.keys, node.artifacts)
    cast.operator("Bench Hub")
    cast.member(LEADER, "chain_leader", chains=())
    cast.member(SINGLE_SUBSCRIBER)
    cast.product(SINGLE_PRODUCT, owner=LEADER, schema=SCHEMA, titles=TITLES, offers=(OWN_ROWS,))
    return cast.agree(SINGLE_SUBSCRIBER, SINGLE_PRODUCT, provider=LEADER)


def cli_environment(settings: Settings) -> dict[str, str]:
    """`dataspace publish` on this node: its settings, none of this process's DATASPACE_*."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    return {**inherited, **settings.environment()}


@contextmanager
def single(node: Node, space: Federation, inputs: Inputs) -> Iterator[Deployment]:
    agreement, settings = single_world(node), node.settings
    landing, environment, clock = settings.state_dir / "landing", cli_environment(settings), Clock()

    def in_process(source: Path) -> dict[str, Any]:
        return publish(node, product_id=SINGLE_PRODUCT, provider=LEADER, source=source).to_json()

    def by_cli(source: Path) -> dict[str, Any]:
        args = ["publish", "--product", SINGLE_PRODUCT, "--as", LEADER, str(source)]
        return dict(space.run(args, environment))

    presign = presigner(settings.s3(), settings.release_bucket)
    local = LocalControlPlane(node.db, node.keys, presign, SINGLE_SUBSCRIBER)
    own = landing / SINGLE_SUBSCRIBER
    watch = Watch(node.db, own, SINGLE_PRODUCT, agreement, SINGLE_SUBSCRIBER)
    publishers = {"in-process": in_process, "cli": by_cli}
    deployment = Deployment(watch, inputs, publishers, {"grant": local.grant})
    with counting_assignments(clock):
        agents = Agents(settings, node.db, node.keys, clock, landing)
        try:
            deployment.start_agent(lambda: agents.start((SINGLE_SUBSCRIBER,)))
            yield deployment
        finally:
            agents.close()


# -- split: a hub and two connectors, each its own process ------------------------------------


class BenchFederation(Federation):
    """The federation, its hub knowing the benchmark product's schema and suite."""

    def hub_environment(self) -> dict[str, str]:
        return {
            **super().hub_environment(),
            "DATASPACE_SCHEMAS_DIR": str(self.stack.schemas_dir),
            "DATASPACE_EXPECTATIONS_DIR": str(self.stack.expectations_dir),
        }


def split_world(space: BenchFederation, root: Path) -> tuple[Party, Party, str]:
    """The hub, the provider's connector (serving grants) and the subscriber's, admitted; the
    product under an own-rows offer; the agreement, signed on both connectors."""
    space.start_hub(name="基准数据枢纽", uscc=OPERATOR_USCC)
    provider = space.join(
        PROVIDER, name="基准链主", uscc=make_uscc("91320300MA0000009"), roles=("chain_leader",),
        chains=(CHAIN,), provider=True,
    )  # fmt: skip
    subscriber = space.join(
        SPLIT_SUBSCRIBER, name="基准配套企业", uscc=make_uscc("91320500000000002"),
        roles=("supplier",), chains=(CHAIN,),
    )  # fmt: skip
    for party in (provider, subscriber):
        space.operator("participant", "admit", party.participant)
    give_artifacts(space, provider)
    space.serve(provider)
    offer = root / "own-rows.json"
    offer.write_text(json.dumps(OWN_ROWS), encoding="utf-8")
    space.connector(
        provider, "product", "create", "--id", SPLIT_PRODUCT, "--title-zh", TITLES[0],
        "--title-en", TITLES[1], "--schema", SCHEMA, "--suite", SCHEMA, "--chain", CHAIN,
        "--offer", str(offer),
    )  # fmt: skip
    requested = space.connector(
        subscriber, "agreement", "request", "--product", SPLIT_PRODUCT, "--purpose", PURPOSE
    )
    agreement = str(requested["agreement_id"])
    space.connector(provider, "agreement", "sign", agreement)
    space.connector(subscriber, "agreement", "sign", agreement)
    return provider, subscriber, agreement


def give_artifacts(space: Federation, provider: Party) -> None:
    """Point the provider's connector at the stack's schemas and expectations (the
    benchmark product's), in its own ``connector.json``."""
    config = load_config(provider.state)
    artifacts = {
        "schemas_dir": str(space.stack.schemas_dir),
        "expectations_dir": str(space.stack.expectations_dir),
    }
    save_config(provider.state, replace(config, settings={**config.settings, **artifacts}))


@contextmanager
def split(space: BenchFederation, root: Path, inputs: Inputs) -> Iterator[Deployment]:
    provider, subscriber, agreement = split_world(space, root)
    hub = Database(f"sqlite:///{space.hub_state / 'control-plane.db'}")
    with hub, open_connector(provider.state) as connector, open_connector(subscriber.state) as own:

        def in_process(source: Path) -> dict[str, Any]:
            summary = publish_from_connector(connector, product_id=SPLIT_PRODUCT, source=source)
            return summary.to_json()

        def by_cli(source: Path) -> dict[str, Any]:
            args = ["publish", "--product", SPLIT_PRODUCT, str(source)]
            return dict(space.connector(provider, *args))

        remote = RemoteControlPlane(own)
        watch = Watch(hub, own.landing_dir, SPLIT_PRODUCT, agreement, SPLIT_SUBSCRIBER)
        probes = {"grant": remote.grant, "hub GET": lambda _: own.hub.get("/deliveries/due")}
        publishers = {"in-process": in_process, "cli": by_cli}
        deployment = Deployment(watch, inputs, publishers, probes)
        try:
            deployment.start_agent(lambda: space.subscribe(subscriber))
            yield deployment
        finally:
            remote.close()
