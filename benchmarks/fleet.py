"""A hub, one provider's connector and K subscriber connectors, for the scale benchmarks.

:func:`open_fleet` sets up the data space as ``split_delivery_paths.split_world`` does, with
the hub and the provider's connector (``connector serve``, which answers grants) as processes
of a :class:`Federation`, but K may be 1,000: a CLI process per step (1-2 s each) would take
hours, so each subscriber's connector is made here with the library, 8 at a time, each still
in its own state directory with its own key, registered with a request signed by that key
(``onboarding.init``), admitted by the operator over the hub's API, and its status fetched
(which stores its own Kafka principal on the production-like stack). Agreements are signed on
both connectors (:mod:`dataspace.connector.negotiation`).

The subscribers' agents run in *agent hosts* (``benchmarks/agent_host.py``), processes of at
most ``per_host`` agents each, every agent the product's own ``subscribe`` with a
``RemoteControlPlane`` of its own connector.

Consumer tuning: the embedded Tansu does not wake a waiting fetch, so every consumer polls it.
``EMBEDDED_CONSUMER_TUNING`` (10 ms fetch wait, 500 ms heartbeat, 6 s session) is made for a
few consumers; with hundreds, those fetches and heartbeats would keep the broker's cores busy.
Subscribers here get ``fetch.wait.max.ms=250`` and librdkafka's default heartbeat and session
(so a new group waits for its first assignment a little longer). On the production-like stack
they get what ``connector init`` gives (the brokers, then their own principal).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from queue import Queue
from typing import IO, Any, TypeVar

from sqlalchemy import func, select

from benchmarks.scale_stack import ROOT, BenchStack
from benchmarks.scale_world import OWN_ROWS, PROVIDER, SCHEMA, TITLES, WHOLE, supplier
from benchmarks.split_delivery_paths import give_artifacts
from dataspace.closing import Closing
from dataspace.connector import negotiation, onboarding
from dataspace.connector.hub_client import HubClient
from dataspace.connector.state import Connector, open_connector
from dataspace.federation import Federation, Party, clean_environment
from dataspace.identity.keys import load_private_key
from dataspace.identity.uscc import make_uscc
from dataspace.scenario import CHAIN, OPERATOR_USCC, PURPOSE
from dataspace.store.db import Database, migrate
from dataspace.store.models import DeliveryRow, ReleaseRow

SETUP_THREADS = 8
MIGRATING = threading.Lock()
SUBSCRIBER_TUNING = {"fetch.wait.max.ms": "250"}  # see the module docstring
ASSIGN_TIMEOUT_SECONDS = 300.0
STOP_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.02
AGENT_HOST = ROOT / "benchmarks" / "agent_host.py"
Item = TypeVar("Item")


@dataclass
class AgentHost:
    """One ``agent_host.py`` process and the subscribers whose agents it runs."""

    process: subprocess.Popen[str]
    subscribers: list[str]
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fleet(Closing):
    """The hub, the provider's connector (serving grants) and the subscribers' connectors,
    joined, admitted and with their status fetched (see the module docstring)."""

    stack: BenchStack
    space: Federation
    provider: Party
    hub: Database  # the hub's control-plane database, opened here for watching only
    subscribers: list[str]  # sup-0001 ... in order
    hosts: list[AgentHost] = field(default_factory=list)

    def state_of(self, subscriber: str) -> Path:
        return self.space.root / subscriber

    # -- products and agreements ------------------------------------------------------------

    def offer(self, product: str, k: int, *, sliced: bool = True) -> dict[str, str]:
        """Create ``product`` at the provider's connector (schema/suite scale_orders, both
        offers) and conclude agreements with the first k subscribers (own rows if sliced,
        else the whole release); {subscriber: agreement_id}."""
        offers = []
        for name, policy in (("whole", WHOLE), ("own-rows", OWN_ROWS)):
            path = self.space.root / f"{name}.json"
            path.write_text(json.dumps(policy), encoding="utf-8")
            offers += ["--offer", str(path)]
        view = self.space.connector(
            self.provider, "product", "create", "--id", product, "--title-zh", TITLES[0],
            "--title-en", TITLES[1], "--schema", SCHEMA, "--suite", SCHEMA, "--chain", CHAIN,
            *offers,
        )  # fmt: skip
        wanted = (OWN_ROWS if sliced else WHOLE)["uid"]
        offer = next(o["offer_id"] for o in view["offers"] if o["policy"]["uid"] == wanted)
        # The provider's connector opened once per setup thread (opening one costs ~0.2 s).
        with ExitStack() as opened:
            providers: Queue[Connector] = Queue()
            for _ in range(SETUP_THREADS):
                providers.put(opened.enter_context(open_connector(self.provider.state)))

            def agree(subscriber: str) -> tuple[str, str]:
                provider = providers.get()
                try:
                    return subscriber, self._agree(provider, product, offer, subscriber)
                finally:
                    providers.put(provider)

            return dict(_in_threads(agree, self.subscribers[:k]))

    def _agree(self, provider: Connector, product: str, offer: str, subscriber: str) -> str:
        with open_connector(self.state_of(subscriber)) as own:
            requested = negotiation.request(own, product=product, purpose=PURPOSE, offer=offer)
            agreement = str(requested["agreement_id"])
            negotiation.sign(provider, agreement)
            negotiation.sign(own, agreement)
        return agreement

    # -- agents -----------------------------------------------------------------------------

    def run_agents(self, k: int, per_host: int = 100) -> float:
        """Make the agents of the first k subscribers run, hosts of at most per_host agents
        each (hosts already running keep theirs; new hosts take the rest), and wait until
        every agent's consumer is assigned; the seconds it took."""
        started = time.perf_counter()
        hosted = {s for host in self.hosts for s in host.subscribers}
        rest = [s for s in self.subscribers[:k] if s not in hosted]
        # One host at a time (each starts its agents in waves): a thousand agents starting
        # at once would ask the embedded broker for its metadata a thousand times at once.
        for i in range(0, len(rest), per_host):
            host = self._start_host(rest[i : i + per_host])
            _wait_assigned(host, time.monotonic() + ASSIGN_TIMEOUT_SECONDS)
        return time.perf_counter() - started

    def _start_host(self, subscribers: list[str]) -> AgentHost:
        number = len(self.hosts) + 1
        listing = self.space.root / f"agent-host-{number}.txt"
        listing.write_text("".join(f"{self.state_of(s)}\n" for s in subscribers), "utf-8")
        self.space.logs.mkdir(parents=True, exist_ok=True)
        env = {**clean_environment(), "PYTHONPATH": str(ROOT)}
        with (self.space.logs / f"agent-host-{number}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, str(AGENT_HOST), "--list", str(listing)],
                env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
            )  # fmt: skip
        host = AgentHost(process, subscribers)
        self.hosts.append(host)
        return host

    def host_pids(self) -> list[int]:
        return [host.process.pid for host in self.hosts]

    def stop_agents(self) -> list[dict[str, Any]]:
        """Stop every agent host (SIGTERM: its agents finish what they hold); each host's
        last report (peak_rss_mb, errors, agents, landed)."""
        for host in self.hosts:
            if host.process.poll() is None:
                os.killpg(host.process.pid, signal.SIGTERM)
        reports = [_final_report(host) for host in self.hosts]
        self.hosts.clear()
        return reports

    # -- what the hub records ---------------------------------------------------------------

    def landed(self, product: str, version: int) -> int:
        """Deliveries of that release the hub records as landed (receipted)."""
        query = _of_release(select(func.count()), product, version)
        with self.hub.transaction(read_only=True) as session:
            return int(session.scalar(query) or 0)

    def wait_landed(self, product: str, version: int, count: int, timeout: float) -> float:
        """Poll (~20 ms) until ``count`` are landed; time.time() when seen; TimeoutError
        naming how many landed otherwise."""
        deadline = time.monotonic() + timeout
        while (landed := self.landed(product, version)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{landed} of {count} deliveries of {product} v{version} landed in "
                    f"{timeout:.0f} s"
                )
            time.sleep(POLL_SECONDS)
        return time.time()

    def landed_times(self, product: str, version: int) -> list[float]:
        """The hub's landed_at (DeliveryRow.landed_at, epoch seconds) of each landed delivery."""
        query = _of_release(select(DeliveryRow.landed_at), product, version)
        with self.hub.transaction(read_only=True) as session:
            moments: Iterable[datetime | None] = session.scalars(query)
            return [moment.timestamp() for moment in moments if moment is not None]

    def close(self) -> None:
        try:
            self.stop_agents()
        finally:
            self.hub.close()


def _of_release(query: Any, product: str, version: int) -> Any:
    return (
        query.select_from(DeliveryRow)
        .join(ReleaseRow, ReleaseRow.id == DeliveryRow.release_id)
        .where(
            ReleaseRow.product_id == product,
            ReleaseRow.version == version,
            DeliveryRow.state == "landed",
        )
    )


def _wait_assigned(host: AgentHost, deadline: float) -> None:
    """Read the host's lines until it says every agent is assigned."""
    stdout: IO[str] | None = host.process.stdout
    if stdout is None:
        raise RuntimeError("an agent host without a pipe")
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), host.process.kill)
    timer.start()
    try:
        for line in stdout:
            if line.startswith("assigned "):
                return
            if line.startswith("failed "):
                raise RuntimeError(f"agent host {host.process.pid}: {line.strip()}")
    finally:
        timer.cancel()
    raise RuntimeError(
        f"agent host {host.process.pid} ended (or was killed after {ASSIGN_TIMEOUT_SECONDS:.0f} s)"
        " before every agent was assigned; see its log"
    )


def _final_report(host: AgentHost) -> dict[str, Any]:
    try:
        out, _ = host.process.communicate(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(host.process.pid, signal.SIGKILL)
        out, _ = host.process.communicate()
    for line in reversed((out or "").splitlines()):
        if line.startswith("{"):
            host.report = json.loads(line)
            break
    return {"pid": host.process.pid, "exit": host.process.returncode, **host.report}


def _in_threads(call: Callable[[Item], Any], items: Iterable[Item]) -> list[Any]:
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        return list(pool.map(call, items))


# -- setting the data space up ----------------------------------------------------------------


def hub_database_url(space: Federation) -> str:
    return space.hub_settings.get(
        "DATASPACE_DATABASE_URL", f"sqlite:///{space.hub_state / 'control-plane.db'}"
    )


def start_provider(space: Federation, operator: Callable[[], HubClient]) -> Party:
    """The provider's connector: joined, admitted, told the artifacts, serving grants."""
    provider = space.join(
        PROVIDER, name="基准链主", uscc=make_uscc("91320300MA0000009"), roles=("chain_leader",),
        chains=(CHAIN,), provider=True,
    )  # fmt: skip
    admit(operator, PROVIDER)
    with open_connector(provider.state) as connector:
        onboarding.status(connector)
    give_artifacts(space, provider)
    space.serve(provider)
    return provider


def admit(operator: Callable[[], HubClient], participant: str) -> None:
    client = operator()
    try:
        client.post(f"/participants/{participant}/admit")
    finally:
        client.close()


def empty_database(root: Path) -> Path:
    """A connector's SQLite database, migrated once (~0.1-0.6 s, and Alembic migrates one
    database at a time in a process); a new subscriber's connector starts from a copy, which
    holds what migrating its own would (the schema, its version, the empty ledger's head)."""
    template = root / "empty-connector.db"
    with MIGRATING:
        if not template.exists():
            migrate(f"sqlite:///{template}")
    return template


def join_subscriber(space: Federation, operator: Callable[[], HubClient], number: int) -> str:
    """``sup-NNNN``'s connector made in its own directory, registered, admitted, status
    fetched."""
    participant = supplier(number)
    state = space.root / participant
    settings: dict[str, Any] = {"kafka_bootstrap_servers": space.stack.bootstrap_servers}
    if space.stack.kafka_embedded:
        settings["kafka_options"] = dict(SUBSCRIBER_TUNING)
    declaration = onboarding.Declaration(
        participant, f"基准配套企业 {number}", make_uscc(f"9132058{number:010d}"),
        ("supplier",), "CN-JS", (CHAIN,),
    )  # fmt: skip
    onboarding.init(state, space.hub_url, declaration, settings=settings)
    admit(operator, participant)
    database = state / "control-plane.db"  # where the connector's settings put it
    shutil.copyfile(empty_database(space.root), database)
    database.chmod(0o600)
    with open_connector(state) as connector:
        onboarding.status(connector)
    space.parties.setdefault(participant, Party(participant, state))
    return participant


@contextmanager
def open_fleet(
    stack: BenchStack,
    root: Path,
    subscribers: int,
    *,
    hub_database: str = "sqlite",
    hub_environment: dict[str, str] | None = None,
) -> Iterator[Fleet]:
    """The fleet under ``root`` (see the module docstring); ``hub_environment`` adds to the
    hub process's environment (a profiler, say)."""
    space = stack.federation(root, hub_database=hub_database)
    space.hub_settings.update(hub_environment or {})
    with space:
        space.start_hub(name="基准数据枢纽", uscc=OPERATOR_USCC)
        operator_key = load_private_key(space.hub_state / "keys" / "operator.pem")

        def operator() -> HubClient:
            return HubClient(space.hub_url, "operator", operator_key)

        provider = start_provider(space, operator)
        joined = _in_threads(
            lambda n: join_subscriber(space, operator, n), range(1, subscribers + 1)
        )
        with Fleet(stack, space, provider, Database(hub_database_url(space)), joined) as fleet:
            yield fleet
