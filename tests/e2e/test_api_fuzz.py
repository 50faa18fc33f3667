"""Schemathesis against the management API, served as its own process, as each kind of caller.

A populated node (an operator, a chain leader with a product, suppliers with a finalized and an
open agreement, a public-data authority, their ledger) is served by `dataspace serve`; for
each role a fresh copy of it is fuzzed with every check (`--checks all`) under a token of that
role, and once without a token. Any server error, status code or content type the OpenAPI
document does not list, or answer that breaks its schema, fails the test; the request count
of each run is printed (`pytest -s`) and named in the assertion message.

The checks' expectations are in ``schemathesis.toml`` beside this file. The seed is fixed so a
failure reproduces; set DATASPACE_FUZZ_SEED to explore others.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dataspace.identity.uscc import make_uscc
from tests.helpers import DATASPACE, free_port, wait_for

pytestmark = pytest.mark.e2e

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES_PER_OPERATION = 25
SEED = os.environ.get("DATASPACE_FUZZ_SEED", "18")
CHAIN = "construction-machinery"
MEMBERS = (  # id, USCC without its check character, role
    ("xcmg", "91320300MA0000001", "chain_leader"),
    ("supplier-01", "91320500MA0000002", "supplier"),
    ("supplier-02", "91320500MA0000003", "supplier"),
    ("stats-bureau", "11320000MB0000004", "public_data_authority"),
)
OFFER = Path(__file__).parents[2] / "examples" / "offers" / "own-rows.json"


def environment(state: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    return {**clean, "DATASPACE_STATE_DIR": str(state)}


def dataspace(state: Path, *args: str) -> str:
    done = subprocess.run(
        [DATASPACE, *args], env=environment(state), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"dataspace {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A node's state directory with every kind of participant and a few contracts."""
    state = tmp_path_factory.mktemp("fuzzed-node")
    dataspace(state, "operator", "init", "--name", "Hub", "--uscc",
              make_uscc("12320000MB0000001"), "--region", "CN-JS")  # fmt: skip
    for member, uscc, role in MEMBERS:
        dataspace(state, "participant", "register", "--id", member, "--name", f"{member} Co.",
                  "--uscc", make_uscc(uscc), "--role", role, "--region", "CN-JS",
                  "--chain", CHAIN)  # fmt: skip
        dataspace(state, "participant", "admit", member)
    dataspace(state, "product", "create", "--id", "purchase-orders", "--as", "xcmg",
              "--title-zh", "采购订单", "--title-en", "Purchase orders", "--schema",
              "purchase_orders", "--suite", "purchase_orders", "--chain", CHAIN,
              "--offer", str(OFFER))  # fmt: skip
    for supplier in ("supplier-01", "supplier-02"):
        requested = dataspace(state, "agreement", "request", "--as", supplier,
                              "--product", "purchase-orders", "--purpose", "supply-planning",
                              "--json")  # fmt: skip
        if supplier == "supplier-01":  # one finalized agreement, one still open
            dataspace(state, "agreement", "accept", "--as", "xcmg",
                      json.loads(requested)["agreement_id"])  # fmt: skip
    return state


@pytest.fixture
def served(world: Path, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the world (each role's run changes only its own), served on a free port."""
    state = Path(shutil.copytree(world, tmp_path / "node"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [DATASPACE, "serve", "--port", str(port)], env=environment(state),
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        try:
            wait_for(lambda: _answers(f"{base}/health"), timeout=60)
            yield state, base
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)


@dataclass(frozen=True)
class Run:
    requests: int
    successes: int
    server_errors: int
    failures: list[str]
    seconds: float
    output: str


@pytest.mark.parametrize(
    "participant", [None, "stats-bureau", "supplier-01", "xcmg", "operator"],
    ids=["no-token", "public-data-authority", "supplier", "chain-leader", "operator"],
)  # fmt: skip
def test_the_api_answers_every_input_as_documented(
    participant: str | None, served: tuple[Path, str], tmp_path: Path
) -> None:
    state, base = served
    headers = []
    if participant is not None:  # a token lives at most 5 minutes: one per run
        token = dataspace(state, "token", "--as", participant, "--minutes", "5")
        headers = ["-H", f"Authorization: Bearer {token}"]
    run = fuzz(base, headers, tmp_path / "report.ndjson")
    who = participant or "no token"
    summary = (
        f"{who}: {run.requests} requests ({run.successes} answered 2xx) in {run.seconds:.0f} s, "
        f"{run.server_errors} server errors, {len(run.failures)} failures"
    )
    print(summary)
    assert run.requests > 0, f"{summary}\n{run.output[-3000:]}"
    if participant is not None:  # the token works: the run reached the services, not just 401s
        assert run.successes > 0, summary
    assert run.server_errors == 0, summary
    assert not run.failures, summary + "\n" + "\n".join(run.failures)


def fuzz(base: str, headers: list[str], report: Path) -> Run:
    started = time.monotonic()
    done = subprocess.run(
        [SCHEMATHESIS, "--config-file", str(CONFIG), "run", f"{base}/openapi.json",
         "--checks", "all", "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", SEED,
         "--generation-database", "none", "--no-color", "--report", "ndjson",
         "--report-ndjson-path", str(report), *headers],
        capture_output=True, text=True, timeout=280, check=False,
        cwd=report.parent,  # its crash cache goes there, not into the checkout
    )  # fmt: skip
    seconds = time.monotonic() - started
    requests, successes, server_errors, failures = read_report(report)
    if done.returncode != 0 and not failures:  # e.g. the schema did not load
        failures = [f"schemathesis exited {done.returncode}"]
    return Run(requests, successes, server_errors, failures, seconds, done.stdout + done.stderr)


def read_report(report: Path) -> tuple[int, int, int, list[str]]:
    """(requests sent, answers with a 2xx status, with a 5xx status, distinct failures) from
    schemathesis's NDJSON events."""
    requests = successes = server_errors = 0
    failures: set[str] = set()
    for line in report.read_text(encoding="utf-8").splitlines():
        event: dict[str, Any] = json.loads(line)
        recorder = event.get("ScenarioFinished", {}).get("recorder", {})
        for interaction in recorder.get("interactions", {}).values():
            requests += 1
            status = (interaction.get("response") or {}).get("status_code", 0)
            successes += 200 <= status < 300
            server_errors += status >= 500
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                failure = (check.get("failure_info") or {}).get("failure")
                if check.get("status") == "failure" and failure:
                    first = failure["message"].splitlines()[0] if failure["message"] else ""
                    failures.add(f"{failure['code']} {failure['operation']}: {first}")
    return requests, successes, server_errors, sorted(failures)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False
