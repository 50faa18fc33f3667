"""One process hosting many subscriber agents: ``python benchmarks/agent_host.py STATE_DIR...``
(or ``--list FILE``, one connector directory a line).

Each agent is what ``dataspace connector subscribe`` runs, in a thread of its own: the
product's :func:`~dataspace.agent.subscriber.subscribe` on its connector's settings and
landing directory, with a :class:`RemoteControlPlane` of its own connector (grants from the
provider's connector, receipts signed with this subscriber's key). Only the process is shared,
so that 1,000 subscribers do not need 1,000 interpreters on a 2-core machine.

Prints ``assigned <n>`` once every agent's consumer has its partitions (or ``failed <why>``
if an agent ended before), then runs until SIGTERM: the agents finish what they hold, and the
last line is a JSON object with ``agents``, ``landed``, ``peak_rss_mb`` and ``errors``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

from benchmarks.memory import peak_rss_mb
from dataspace.agent.subscriber import SubscribeOptions, SubscribeSummary, subscribe
from dataspace.agent.worker import Outcome
from dataspace.connector.remote_control_plane import RemoteControlPlane
from dataspace.connector.state import Connector, open_connector

JOIN_SECONDS = 120.0
# Agents start this many at a time, each wave once the one before is assigned: a hundred
# agents asking a busy embedded broker for its metadata at once (every topic's, 5 per
# subscriber) time out its 10 s admin requests.
START_WAVE = 20


class Agents:
    """The agents of this host, what they did, and when all of them were assigned."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.stop = threading.Event()
        self.changed = threading.Condition()
        self.assigned: set[str] = set()
        self.ended: dict[str, SubscribeSummary | None] = {}
        self.errors: list[str] = []

    def watcher(self, subscriber: str) -> Watcher:
        return Watcher(self, subscriber)

    def run(self, connector: Connector) -> None:
        control = RemoteControlPlane(connector)
        summary = None
        try:
            summary = subscribe(
                connector.node.settings,
                control,
                connector.landing_dir,
                SubscribeOptions(),
                stop=self.stop,
                watcher=self.watcher(connector.participant),
            )
        except Exception as exc:  # noqa: BLE001 (reported in the host's last line)
            with self.changed:
                self.errors.append(f"{connector.participant}: {type(exc).__name__}: {exc}")
        finally:
            control.close()
            with self.changed:
                self.ended[connector.participant] = summary
                self.changed.notify_all()

    def all_assigned(self, count: int | None = None) -> str | None:
        """None once ``count`` agents (default: all) are assigned; why not if one ended first."""
        wanted = self.count if count is None else count
        with self.changed:
            # A timeout, so that a SIGTERM (which notifies no one) ends the wait.
            while not self.changed.wait_for(
                lambda: len(self.assigned) >= wanted or self.ended or self.stop.is_set(), 1.0
            ):
                pass
            if len(self.assigned) >= wanted:
                return None
            return "; ".join(self.errors) or f"{len(self.ended)} agents ended before assignment"


class Watcher:
    """Tells the host when its agent is assigned (on the agent's polling thread)."""

    def __init__(self, agents: Agents, subscriber: str) -> None:
        self._agents, self._subscriber = agents, subscriber

    def assigned(self, partitions: list[tuple[str, int]]) -> None:
        if partitions:
            with self._agents.changed:
                self._agents.assigned.add(self._subscriber)
                self._agents.changed.notify_all()

    def handled(self, outcome: Outcome, summary: SubscribeSummary) -> None:
        pass


def host(directories: list[Path]) -> dict[str, object]:
    agents = Agents(len(directories))
    for stopping in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stopping, lambda _signal, _frame: agents.stop.set())
    threads = []
    with ExitStack() as opened:
        failed = None
        for number, directory in enumerate(directories, start=1):
            connector = opened.enter_context(open_connector(directory))
            thread = threading.Thread(target=agents.run, args=(connector,), daemon=True)
            thread.start()
            threads.append(thread)
            if number % START_WAVE == 0 and (failed := agents.all_assigned(number)):
                break
        failed = failed or agents.all_assigned()
        print(f"failed {failed}" if failed else f"assigned {agents.count}", flush=True)
        while not agents.stop.wait(1.0):
            pass
        for thread in threads:
            thread.join(JOIN_SECONDS)
    landed = sum(len(s.landed) for s in agents.ended.values() if s is not None)
    return {
        "agents": agents.count,
        "landed": landed,
        "peak_rss_mb": peak_rss_mb(),
        "errors": agents.errors + [f"{t.name} still running" for t in threads if t.is_alive()],
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="*", type=Path)
    parser.add_argument("--list", type=Path, help="a file of connector directories, one a line")
    args = parser.parse_args(argv)
    directories = list(args.directories)
    if args.list is not None:
        directories += [Path(line) for line in args.list.read_text("utf-8").split() if line]
    if not directories:
        parser.error("give connector directories, or --list FILE")
    print(json.dumps(host(directories)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
