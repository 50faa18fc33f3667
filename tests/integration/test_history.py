"""History from a given version over the real stack: releases published before a subscriber's
agreement reach it when it asks, each exactly once, through the real agent; bad requests are
one sentence and record nothing."""

from __future__ import annotations

import json
import subprocess
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dataspace import demo_data
from dataspace.api.app import create_app
from dataspace.config import Settings
from dataspace.controlplane import agreements, ledger, releases
from dataspace.errors import Conflict, DataspaceError, InvalidInput, NotFound, Unauthorized
from dataspace.node import Node
from dataspace.publishing.history import HistorySummary, deliver_history
from dataspace.store.models import DeliveryRow, LedgerEntryRow, OutboxRow
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.helpers import DATASPACE, node_environment, wait_for
from tests.integration.test_api import auth
from tests.integration.test_delivery_end_to_end import PROJECTED, assert_masked
from tests.worlds.chain_world import LEADER, Chain, landed_ids

pytestmark = pytest.mark.integration


@pytest.fixture
def chain(space: Space, stack_settings: Settings, unique: str, tmp_path: Path) -> Chain:
    isolated = stack_settings.model_copy(update={"release_bucket": f"hist-{unique}"})
    return Chain(space, isolated, unique, tmp_path)


def ask(chain: Chain, subscriber: str, from_version: int, product: str = "") -> HistorySummary:
    with closing(Node(chain.settings, chain.db, chain.space.keys)) as node:
        return deliver_history(
            node, subscriber=subscriber, product_id=product or chain.product,
            from_version=from_version,
        )  # fmt: skip


def test_a_new_subscriber_gets_the_history_it_asks_for_exactly_once(chain: Chain) -> None:
    early, late, later = (chain.supplier(n) for n in (1, 2, 3))
    chain.agree(1, "own rows")
    weeks = [chain.orders(0), chain.orders(1)]
    assert [chain.publish(week, f"week-{i}").version for i, week in enumerate(weeks)] == [1, 2]
    spoiled = chain.publish(demo_data.spoiled(chain.orders(2), "quantity"), "week-2-spoiled")
    assert spoiled.status == "quarantined"
    chain.agree(2, "masked price")  # concluded after every release: publish gave it nothing
    chain.agree(3, "projection")
    assert not [d for d, (s, _) in chain.deliveries().items() if s in (late, later)]

    summary = ask(chain, late, 1)

    assert [(line.version, line.reason) for line in summary.deliveries] == [(1, None), (2, None)]
    assert (summary.latest_version, summary.events_pending) == (3, 0)
    expected = [releases.delivery_id(chain.agreements[late], v) for v in (1, 2)]
    assert [line.delivery_id for line in summary.deliveries] == expected
    received = chain.receive(late)
    assert landed_ids(received) == expected
    assert chain.landed_files(late) == [chain.part(1), chain.part(2)]
    for version, week in enumerate(weeks, start=1):
        assert_masked(chain.landed(late, version), chain.own_rows(week, late))

    # Asking twice delivers nothing twice, and the agent lands nothing new.
    assert ask(chain, late, 1).deliveries == ()
    assert chain.receive(late).landed == []
    mine = {d: state for d, (s, state) in chain.deliveries().items() if s == late}
    assert mine == dict.fromkeys(expected, "landed")
    assert sorted(d for s, d in chain.receipts() if s == late) == expected
    assert agreements.show(chain.db, late, chain.agreements[late]).deliveries_made == 2

    # From version 2: only version 2, the projected view.
    from_two = ask(chain, later, 2)
    assert [line.version for line in from_two.delivered] == [2]
    assert landed_ids(chain.receive(later)) == [releases.delivery_id(chain.agreements[later], 2)]
    assert chain.landed(later, 2).equals(chain.own_rows(weeks[1], later).select(PROJECTED))

    # The early subscriber got both releases from publish: its history is empty.
    assert ask(chain, early, 1).deliveries == ()
    assert ledger.verify(chain.db).ok


def test_bad_history_requests_are_one_sentence_and_record_nothing(chain: Chain) -> None:
    s1, s2, s3, outsider = (chain.supplier(n) for n in (1, 2, 3, 9))
    ends = utcnow() + timedelta(seconds=1)
    chain.agree(3, "own rows", valid_until=ends)
    chain.agree(1, "own rows")
    chain.agree(2, "own rows")
    chain.space.member(outsider)
    wait_for(lambda: utcnow() > ends, timeout=10)
    assert chain.publish(chain.orders(0), "week-0").version == 1
    agreements.revoke(chain.db, chain.space.keys, actor=LEADER, agreement_id=chain.agreements[s2])
    before = counts(chain)

    refusals: list[tuple[type[DataspaceError], str, DataspaceError]] = []
    for kind, words, subscriber, version, product in [
        (InvalidInput, "numbered from 1", s1, 0, ""),
        (InvalidInput, "its latest is 1", s1, 2, ""),
        (NotFound, "No product", s1, 1, f"nothing-{chain.unique}"),
        (Unauthorized, "has no agreement on", outsider, 1, ""),
        (Conflict, "revoked", s2, 1, ""),
        (Conflict, "expired", s3, 1, ""),
    ]:
        with pytest.raises(kind) as caught:
            ask(chain, subscriber, version, product)
        refusals.append((kind, words, caught.value))

    for _, words, error in refusals:
        message = str(error)
        assert words in message
        assert message.count(". ") == 0, message  # one sentence
        assert message.endswith(".")
    assert counts(chain) == before


def counts(chain: Chain) -> tuple[int, int, int]:
    """Deliveries, ledger entries and outbox rows (every test's, this database's)."""
    with chain.db.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(DeliveryRow)) or 0,
            session.scalar(select(func.count()).select_from(LedgerEntryRow)) or 0,
            session.scalar(select(func.count()).select_from(OutboxRow)) or 0,
        )


def test_history_from_the_cli_and_the_api(chain: Chain, database_url: str, tmp_path: Path) -> None:
    by_cli, by_api = chain.supplier(1), chain.supplier(2)
    assert chain.publish(chain.orders(0), "week-0").version == 1
    chain.agree(1, "own rows")
    chain.agree(2, "projection")
    chain.db.dispose()

    asked = cli(chain, database_url, tmp_path, "--as", by_cli, "--from-version", "1", "--json")
    beyond = cli(chain, database_url, tmp_path, "--as", by_cli, "--from-version", "5")

    assert asked.returncode == 0, asked.stderr
    lines = json.loads(asked.stdout)["deliveries"]
    assert [(line["version"], line["delivery_id"]) for line in lines] == [
        (1, releases.delivery_id(chain.agreements[by_cli], 1))
    ]
    assert beyond.returncode == InvalidInput.exit_code
    assert beyond.stdout == ""
    assert beyond.stderr.strip().startswith("Error: The product")
    assert "latest is 1" in beyond.stderr
    assert len(beyond.stderr.strip().splitlines()) == 1
    assert "Traceback" not in beyond.stderr

    s3 = chain.settings.s3()
    settings = chain.settings.model_copy(
        update={
            "state_dir": tmp_path,  # where the test's keys are
            "database_url": database_url,
            "s3_endpoint": s3.url,
            "s3_access_key": s3.access_key,
            "s3_secret_key": s3.secret_key,
        }
    )
    with TestClient(create_app(settings)) as client:
        path = f"/products/{chain.product}/history"
        answer = client.post(path, json={"from_version": 1}, headers=auth(chain.space, by_api))
        again = client.post(path, json={"from_version": 1}, headers=auth(chain.space, by_api))
        bad = client.post(path, json={"from_version": 0}, headers=auth(chain.space, by_api))

    assert answer.status_code == 200, answer.text
    assert [line["version"] for line in answer.json()["deliveries"]] == [1]
    assert (again.status_code, again.json()["deliveries"]) == (200, [])
    assert (bad.status_code, bad.json()["error"]) == (400, "InvalidInput")
    assert landed_ids(chain.receive(by_api)) == [releases.delivery_id(chain.agreements[by_api], 1)]
    assert landed_ids(chain.receive(by_cli)) == [releases.delivery_id(chain.agreements[by_cli], 1)]


def cli(
    chain: Chain, database_url: str, state: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`dataspace history` on this test's node (its database, keys, stack and bucket)."""
    env = node_environment(state, chain.settings, DATASPACE_DATABASE_URL=database_url)
    command = [DATASPACE, "history", "--product", chain.product, *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=120, check=False
    )
