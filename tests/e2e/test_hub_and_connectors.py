"""A hub and connectors as separate processes: onboarding, catalog and negotiation.

Each party is its own process on its own state directory (dataspace.federation): the hub
(`dataspace hub serve`) and every participant's connector (`dataspace connector ...`), which
reaches the hub only over HTTP and signs every act with the key it made itself.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.config import Settings
from dataspace.controlplane.evidence import Change, entry_of, record
from dataspace.controlplane.participants import OPERATOR_ID, operator_signing_key
from dataspace.federation import CommandFailed, Federation, Party, clean_environment
from dataspace.identity.acts import mint_act
from dataspace.identity.keys import SigningKey
from dataspace.identity.keystore import KeyStore
from dataspace.identity.uscc import make_uscc
from dataspace.ledger.chain import EntryFields, payload_hash, seal
from dataspace.scenario import own_rows_offer, whole_release_offer
from dataspace.store import ledger_store
from dataspace.store.db import Database
from dataspace.store.models import LedgerEntryRow, ParticipantRow
from dataspace.store.types import utcnow
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e

OPERATOR_USCC = make_uscc("12320000MB0000001")


def _uscc(n: int) -> str:
    return make_uscc(f"9132050{n:010d}")


@pytest.fixture(scope="module")
def federation(
    stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Federation]:
    with Federation(tmp_path_factory.mktemp("federation"), stack_settings) as space:
        space.start_hub(name="江苏省数据枢纽（测试）", uscc=OPERATOR_USCC)
        yield space


@pytest.fixture(scope="module")
def leader(federation: Federation) -> Party:
    party = federation.join(
        "xcmg", name="XCMG", uscc=_uscc(1), roles=("chain_leader",),
        chains=("construction-machinery",), provider=True,
    )  # fmt: skip
    federation.operator("participant", "admit", "xcmg")
    return party


def _supplier(federation: Federation, number: int) -> Party:
    participant = f"supplier-{number:02d}"
    party = federation.join(
        participant, name=f"Supplier {number}", uscc=_uscc(100 + number),
        roles=("supplier",), chains=("construction-machinery",),
    )  # fmt: skip
    federation.operator("participant", "admit", participant)
    return party


def _offer(tmp: Path) -> Path:
    path = tmp / "offer.json"
    path.write_text(json.dumps(_policy_json()), encoding="utf-8")
    return path


def _policy_json() -> dict[str, object]:
    return own_rows_offer("urn:test:orders:own-rows")


def test_a_connector_makes_its_key_and_the_hub_holds_only_the_operators(
    federation: Federation, leader: Party
) -> None:
    assert sorted(p.name for p in (leader.state / "keys").glob("*.pem")) == ["xcmg.pem"]
    assert federation.operator("hub", "keys") == ["operator"]
    status = federation.connector(leader, "status")
    assert status["status"] == "admitted"
    assert status["credential_verified"] is True
    assert status["custody"] == "connector"
    registry = federation.operator("participant", "show", "xcmg")
    assert registry["public_key"] == status["public_key"]
    # The hub makes no participant's key, not even when asked in development mode.
    refused = federation.operator(
        "participant", "register", "--id", "dev-made", "--name", "Dev", "--uscc", _uscc(900),
        "--role", "supplier", "--region", "CN-JS", check=False,
    )  # fmt: skip
    assert isinstance(refused, CommandFailed)
    assert refused.code == 4
    assert "holds the operator's key only" in refused.stderr
    assert federation.operator("hub", "keys") == ["operator"]


def test_a_connector_cannot_register_another_participants_id(federation: Federation) -> None:
    party = federation.join("supplier-09", name="Supplier 9", uscc=_uscc(209), roles=("supplier",))
    impostor = federation.root / "impostor"
    with pytest.raises(CommandFailed) as failed:
        federation.join(
            "supplier-09", name="Impostor", uscc=_uscc(309), roles=("supplier",),
            directory=impostor,
        )  # fmt: skip
    assert failed.value.code == 4  # Conflict: the id is taken
    assert "already registered" in failed.value.stderr
    assert not impostor.exists()  # the refused connector left nothing behind
    # The first connector keeps its key; the refused one left nothing behind to retry over.
    assert (party.state / "keys" / "supplier-09.pem").is_file()
    assert (party.state / "connector.json").is_file()


def test_both_parties_sign_on_their_own_connectors_and_the_hub_files_the_agreement(
    federation: Federation, leader: Party, tmp_path: Path
) -> None:
    supplier = _supplier(federation, 1)
    federation.connector(
        leader, "product", "create", "--id", "purchase-orders", "--title-zh", "采购订单",
        "--title-en", "Purchase orders", "--schema", "purchase_orders", "--suite",
        "purchase_orders", "--chain", "construction-machinery", "--offer", str(_offer(tmp_path)),
    )  # fmt: skip
    catalog = federation.connector(supplier, "product", "list", "--owner", "xcmg")
    assert [(p["product_id"], len(p["offers"])) for p in catalog] == [("purchase-orders", 1)]
    requested = federation.connector(
        supplier, "agreement", "request", "--product", "purchase-orders",
        "--purpose", "supply-planning",
    )  # fmt: skip
    agreement = requested["agreement_id"]
    assert requested["state"] == "REQUESTED"

    too_early = federation.connector(supplier, "agreement", "sign", agreement, check=False)
    assert isinstance(too_early, CommandFailed)
    assert too_early.code == 4

    agreed = federation.connector(leader, "agreement", "sign", agreement)
    assert agreed["state"] == "AGREED"
    final = federation.connector(supplier, "agreement", "sign", agreement)
    assert final["state"] == "FINALIZED"
    assert final["provider_signature"]
    assert final["consumer_signature"]

    entries = _ledger(federation)
    steps = {e["action"]: e for e in entries if agreement in e["subject_ids"]}
    assert steps["negotiation.requested"]["actor"] == "supplier-01"
    assert steps["negotiation.agreed"]["actor"] == "xcmg"
    assert steps["negotiation.verified"]["actor"] == "supplier-01"
    assert steps["agreement.finalized"]["actor"] == "operator"
    assert [steps[a]["signed_on"] for a in ("negotiation.agreed", "agreement.finalized")] == [
        "connector", "hub",
    ]  # fmt: skip
    verified = federation.operator("ledger", "verify")
    assert verified["ok"] is True


def test_an_expired_or_suspended_participant_is_refused_at_its_next_request(
    federation: Federation, leader: Party
) -> None:
    supplier = _supplier(federation, 2)
    federation.operator("participant", "suspend", "supplier-02")
    refused = federation.connector(
        supplier, "agreement", "request", "--product", "purchase-orders",
        "--purpose", "supply-planning", check=False,
    )  # fmt: skip
    assert isinstance(refused, CommandFailed)
    assert "suspended" in refused.stderr
    federation.operator("participant", "reinstate", "supplier-02")
    requested = federation.connector(
        supplier, "agreement", "request", "--product", "purchase-orders",
        "--purpose", "supply-planning",
        "--valid-until", (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    )  # fmt: skip
    assert requested["state"] == "REQUESTED"


def _ledger(federation: Federation) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = federation.operator("ledger", "show", "--limit", "200")
    return rows


def test_reject_counter_and_the_operators_approval_each_come_from_the_acting_party(
    federation: Federation, leader: Party, tmp_path: Path
) -> None:
    supplier = _supplier(federation, 3)
    federation.connector(
        leader, "product", "create", "--id", "quality-specs", "--title-zh", "质量规范",
        "--title-en", "Quality specifications", "--schema", "purchase_orders", "--suite",
        "purchase_orders", "--grade", "important", "--offer", str(_offer(tmp_path)),
    )  # fmt: skip
    request = ["agreement", "request", "--product", "quality-specs", "--purpose", "supply-planning"]

    first = federation.connector(supplier, *request)["agreement_id"]
    rejected = federation.connector(leader, "agreement", "reject", first)
    assert rejected["state"] == "TERMINATED"

    second = federation.connector(supplier, *request)["agreement_id"]
    unapproved = federation.connector(leader, "agreement", "sign", second, check=False)
    assert isinstance(unapproved, CommandFailed)
    assert "operator" in unapproved.stderr  # important grade: the operator approves first
    countered = tmp_path / "countered.json"
    countered.write_text(json.dumps(own_rows_offer("urn:test:specs:countered")), "utf-8")
    offered = federation.connector(
        leader, "agreement", "counter", second, "--offer", str(countered)
    )
    assert offered["state"] == "OFFERED"
    assert federation.connector(supplier, "agreement", "accept", second)["state"] == "ACCEPTED"
    federation.operator("hub", "agreement", "approve", second)
    assert federation.connector(leader, "agreement", "sign", second)["state"] == "AGREED"
    filed = federation.connector(supplier, "agreement", "sign", second)
    assert filed["state"] == "FINALIZED"
    assert filed["policy"]["uid"] == "urn:test:specs:countered"

    actors = {e["action"]: e["actor"] for e in _ledger(federation) if second in e["subject_ids"]}
    assert actors == {
        "negotiation.requested": "supplier-03", "negotiation.offered": "xcmg",
        "negotiation.accepted": "supplier-03", "negotiation.approved": "operator",
        "negotiation.agreed": "xcmg", "negotiation.verified": "supplier-03",
        "agreement.finalized": "operator",
    }  # fmt: skip
    assert federation.operator("ledger", "verify")["ok"] is True


# -- the hub cannot forge -------------------------------------------------------------------


def _forged_filing(session: Session, operator_key: SigningKey) -> None:
    """The operator files an agreement nobody negotiated."""
    subjects = ("agr-f0f0f0f0f0f0", "purchase-orders", "supplier-01", "xcmg")
    record(session, operator_key, Change(OPERATOR_ID, "agreement.finalized", subjects), utcnow())


def _forged_provider_step(session: Session, operator_key: SigningKey) -> None:
    """The hub records the provider agreeing, without the provider's signed request."""
    _append(session, operator_key, "xcmg", "negotiation.agreed", ("agr-f0f0f0f0f0f0",), "", "")


def _forged_receipt(session: Session, operator_key: SigningKey) -> None:
    """The hub records a receipt, attaching a genuine act of the subscriber's (its request)."""
    genuine = session.scalars(
        select(LedgerEntryRow).where(
            LedgerEntryRow.action == "negotiation.requested", LedgerEntryRow.actor == "supplier-01"
        )
    ).first()
    assert genuine is not None
    assert genuine.attestation
    subjects = ("dlv-agr-f0f0f0f0f0f0-v1", "agr-f0f0f0f0f0f0", "purchase-orders", "supplier-01")
    _append(
        session, operator_key, "supplier-01", "delivery.received", subjects,
        genuine.attestation, genuine.act_body or "",
    )  # fmt: skip


def _forged_key_swap(session: Session, operator_key: SigningKey) -> None:
    """The hub replaces the provider's registered key with one it made, and signs with it."""
    fake = SigningKey.generate()
    session.get(ParticipantRow, "xcmg").public_key = fake.public_key_b64  # type: ignore[union-attr]
    path, body = "/agreements/agr-f0f0f0f0f0f0/sign", b'{"signature":"forged"}'
    act = mint_act("xcmg", fake, "POST", path, body)
    _append(
        session, operator_key, "xcmg", "negotiation.agreed", ("agr-f0f0f0f0f0f0",), act,
        body.decode(),
    )  # fmt: skip


def _append(  # noqa: PLR0917 (the fields of a forged entry)
    session: Session,
    operator_key: SigningKey,
    actor: str,
    action: str,
    subjects: tuple[str, ...],
    attestation: str,
    act_body: str,
) -> None:
    fields = EntryFields(
        utcnow(), actor, action, subjects, payload_hash({"forged": True}),
        sealer=OPERATOR_ID, attestation=attestation or None, act_body=act_body or None,
    )  # fmt: skip

    def sealed(previous: LedgerEntryRow | None) -> dict[str, object]:
        entry = seal(None if previous is None else entry_of(previous), fields, operator_key)
        return {
            "time": fields.time, "actor": actor, "action": action, "subject_ids": list(subjects),
            "payload_hash": entry.payload_hash, "prev_hash": entry.prev_hash,
            "entry_hash": entry.entry_hash, "signature": entry.signature,
            "sealer": entry.sealer or None, "attestation": entry.attestation or None,
            "act_body": entry.act_body or None,
        }  # fmt: skip

    ledger_store.append(session, sealed)


@pytest.mark.parametrize(
    "forge", [_forged_filing, _forged_provider_step, _forged_receipt, _forged_key_swap]
)
def test_the_hub_cannot_forge_an_agreement_or_a_receipt(
    federation: Federation, leader: Party, tmp_path: Path, forge: Any
) -> None:
    """With the hub's whole database and key store, a forged entry fails the offline check
    made with the participants' own public keys."""
    assert sorted(p.name for p in (federation.hub_state / "keys").glob("*.pem")) == ["operator.pem"]
    parties = [p for p in ("xcmg", "supplier-01") if p in federation.parties]
    assert parties == ["xcmg", "supplier-01"], "runs after the negotiation test"
    keys = {p: federation.connector(p, "status")["public_key"] for p in parties}
    keys[OPERATOR_ID] = federation.operator("participant", "show", OPERATOR_ID)["public_key"]
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(keys), encoding="utf-8")

    stolen = tmp_path / "stolen.db"  # a consistent copy of the running hub's database
    with (
        sqlite3.connect(federation.hub_state / "control-plane.db") as source,
        sqlite3.connect(stolen) as target,
    ):
        source.backup(target)
    database = Database(f"sqlite:///{stolen}")
    try:
        with database.transaction() as session:
            forge(session, operator_signing_key(session, KeyStore(federation.hub_state / "keys")))
            forged = ledger_store.last_entry(session)
            assert forged is not None
            sequence = forged.sequence
    finally:
        database.dispose()
    env = {
        **federation.hub_environment(),
        "DATASPACE_DATABASE_URL": f"sqlite:///{stolen}",
    }
    exported = tmp_path / "ledger.jsonl"
    federation.run(["ledger", "export", str(exported)], env)

    checked = federation.run(
        ["ledger", "verify", "--offline", str(exported), "--keys", str(keys_file)],
        clean_environment(),
        check=False,
    )
    assert isinstance(checked, CommandFailed)
    assert checked.code == 7
    assert json.loads(checked.stdout)["sequence"] == sequence


def test_the_genuine_ledger_verifies_offline_with_the_participants_keys(
    federation: Federation, leader: Party, tmp_path: Path
) -> None:
    keys = {p: federation.connector(p, "status")["public_key"] for p in ("xcmg", "supplier-01")}
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(keys), encoding="utf-8")
    exported = tmp_path / "ledger.jsonl"
    federation.operator("ledger", "export", str(exported))
    result = federation.run(
        ["ledger", "verify", "--offline", str(exported), "--keys", str(keys_file)],
        clean_environment(),
    )
    assert result["ok"] is True


# -- delivery across processes, and its faults ----------------------------------------------

ORDERS_CSV = Path(__file__).resolve().parents[2] / "examples" / "purchase-orders-2026-W02.csv"


def _landed(party: Party, version: int) -> list[Path]:
    return sorted((party.state / "landed" / "purchase-orders" / str(version)).glob("*.parquet"))


def _entries(federation: Federation, action: str, subject: str) -> list[dict[str, object]]:
    return [e for e in _ledger(federation) if e["action"] == action and subject in e["subject_ids"]]


def test_a_subscriber_waits_for_a_provider_connector_that_is_down_and_lands_when_it_is_back(
    federation: Federation, leader: Party
) -> None:
    supplier = federation.parties["supplier-01"]  # concluded its agreement above
    federation.subscribe(supplier)
    published = federation.connector(
        leader, "publish", "--product", "purchase-orders", str(ORDERS_CSV)
    )
    version = published["version"]
    assert [line["subscriber"] for line in published["deliveries"] if not line["reason"]] == [
        "supplier-01"
    ]
    time.sleep(3)  # the agent asks XCMG's connector, which is not running: it retries
    assert _landed(supplier, version) == []
    assert federation.running("supplier-01-agent")

    federation.serve(leader)

    landed = wait_for(lambda: _landed(supplier, version), timeout=60)
    assert {r["supplier_id"] for r in pq.read_table(landed[0]).to_pylist()} == {"supplier-01"}
    delivery = f"dlv-{published['deliveries'][0]['agreement_id']}-v{version}"
    receipts = wait_for(lambda: _entries(federation, "delivery.received", delivery), timeout=30)
    assert [r["actor"] for r in receipts] == ["supplier-01"]


def test_a_publish_while_the_hub_is_down_writes_nothing_and_works_once_it_is_back(
    federation: Federation, leader: Party
) -> None:
    """Without the hub no version can be reserved: one sentence, nothing written. (A hub lost
    between reservation and manifest holds the manifest on the connector:
    tests/integration/test_connector_publish.py.)"""
    supplier = federation.parties["supplier-01"]
    before = len(_entries(federation, "release.published", "purchase-orders"))
    objects = sorted(p.name for p in (leader.state / "held").glob("*")) if (
        leader.state / "held").exists() else []  # fmt: skip
    federation.stop("hub")
    down = federation.connector(leader, "publish", "--product", "purchase-orders",
                                str(ORDERS_CSV), check=False)  # fmt: skip
    assert isinstance(down, CommandFailed)
    assert down.code == 6
    assert "cannot be reached" in down.stderr
    held = sorted(p.name for p in (leader.state / "held").glob("*")) if (
        leader.state / "held").exists() else []  # fmt: skip
    assert held == objects

    federation.serve_hub()
    published = federation.connector(
        leader, "publish", "--product", "purchase-orders", str(ORDERS_CSV)
    )
    assert wait_for(lambda: _landed(supplier, published["version"]), timeout=60)
    assert len(_entries(federation, "release.published", "purchase-orders")) == before + 1


def test_a_subscriber_whose_grant_meets_the_hub_down_lands_once_when_the_hub_is_back(
    federation: Federation, leader: Party
) -> None:
    """Without the hub nobody can grant (the subscriber's connector cannot look the delivery
    up, a provider's connector would answer 503: fail closed); the agent keeps the
    announcement uncommitted, retries with back-off, and lands and receipts it once."""
    supplier = federation.parties["supplier-01"]
    federation.stop("supplier-01-agent")
    published = federation.connector(
        leader, "publish", "--product", "purchase-orders", str(ORDERS_CSV)
    )
    version = published["version"]
    delivery = f"dlv-{published['deliveries'][0]['agreement_id']}-v{version}"
    federation.stop("hub")
    federation.subscribe(supplier)
    time.sleep(4)  # the agent read the announcement and keeps retrying: nothing landed
    assert _landed(supplier, version) == []
    assert federation.running("supplier-01-agent")

    federation.serve_hub()

    assert wait_for(lambda: _landed(supplier, version), timeout=60)
    receipts = wait_for(lambda: _entries(federation, "delivery.received", delivery), timeout=30)
    assert len(receipts) == 1


def test_a_subscriber_connector_killed_mid_download_lands_once_after_a_restart(
    federation: Federation, leader: Party, tmp_path: Path
) -> None:
    """SIGKILL while the first bytes are written to the .partial file (fault point
    download.partial-written, ADR 0012); the restarted agent lands the delivery once,
    verified, and the hub records one receipt."""
    supplier = federation.parties["supplier-01"]
    federation.stop("supplier-01-agent")
    held = tmp_path / "held"
    env = {
        **clean_environment(),
        "DATASPACE_CONNECTOR_STATE": str(supplier.state),
        "DATASPACE_FAULT_HOLD": "download.partial-written",
        "DATASPACE_FAULT_HELD": str(held),
    }
    federation.spawn("supplier-01-held", ["connector", "subscribe"], env)
    published = federation.connector(
        leader, "publish", "--product", "purchase-orders", str(ORDERS_CSV)
    )
    version = published["version"]
    delivery = f"dlv-{published['deliveries'][0]['agreement_id']}-v{version}"
    wait_for(held.exists, timeout=60)
    os.killpg(federation.pid("supplier-01-held"), signal.SIGKILL)
    federation.stop("supplier-01-held")
    assert _landed(supplier, version) == []

    federation.subscribe(supplier)

    assert len(wait_for(lambda: _landed(supplier, version), timeout=60)) == 1
    receipts = wait_for(lambda: _entries(federation, "delivery.received", delivery), timeout=30)
    assert len(receipts) == 1
    assert list((supplier.state / "landed").rglob("*.partial")) == []


def test_a_receipt_that_meets_the_hub_down_is_sent_again_and_recorded_once(
    federation: Federation, leader: Party, tmp_path: Path
) -> None:
    """The agent landed a delivery and is about to send its receipt when the hub goes down
    (fault point receipt.landed-not-sent, released after the hub stopped): it keeps the
    announcement uncommitted and retries; when the hub is back, one receipt is recorded."""
    supplier = federation.parties["supplier-01"]
    federation.stop("supplier-01-agent")
    held, release = tmp_path / "held", tmp_path / "release"
    release.touch()
    env = {
        **clean_environment(),
        "DATASPACE_CONNECTOR_STATE": str(supplier.state),
        "DATASPACE_FAULT_HOLD": "receipt.landed-not-sent@1",
        "DATASPACE_FAULT_HELD": str(held),
        "DATASPACE_FAULT_RELEASE": str(release),
    }
    federation.spawn("supplier-01-agent", ["connector", "subscribe"], env)
    published = federation.connector(
        leader, "publish", "--product", "purchase-orders", str(ORDERS_CSV)
    )
    version = published["version"]
    delivery = f"dlv-{published['deliveries'][0]['agreement_id']}-v{version}"
    wait_for(held.exists, timeout=60)
    assert len(_landed(supplier, version)) == 1  # landed, not yet receipted
    federation.stop("hub")
    release.unlink()  # the receipt goes out into a hub that is down
    time.sleep(3)
    assert federation.running("supplier-01-agent")

    federation.serve_hub()

    receipts = wait_for(lambda: _entries(federation, "delivery.received", delivery), timeout=60)
    assert len(receipts) == 1
    assert len(_landed(supplier, version)) == 1


def test_a_whole_release_offer_is_delivered_from_the_providers_connector(
    federation: Federation, leader: Party, tmp_path: Path
) -> None:
    """A view that is the whole release shares the release object in the provider's bucket."""
    supplier = federation.parties["supplier-01"]
    offer = tmp_path / "whole.json"
    offer.write_text(json.dumps(whole_release_offer("urn:test:orders:whole")), "utf-8")
    federation.connector(
        leader, "product", "create", "--id", "order-book", "--title-zh", "订单全集",
        "--title-en", "Order book", "--schema", "purchase_orders", "--suite",
        "purchase_orders", "--offer", str(offer),
    )  # fmt: skip
    agreement = federation.connector(
        supplier, "agreement", "request", "--product", "order-book", "--purpose", "supply-planning"
    )["agreement_id"]
    federation.connector(leader, "agreement", "sign", agreement)
    federation.connector(supplier, "agreement", "sign", agreement)

    published = federation.connector(leader, "publish", "--product", "order-book", str(ORDERS_CSV))

    folder = supplier.state / "landed" / "order-book" / str(published["version"])
    landed = wait_for(lambda: sorted(folder.glob("*.parquet")), timeout=60)
    rows = pq.read_table(landed[0]).num_rows
    assert rows == published["rows"] == len(ORDERS_CSV.read_text().splitlines()) - 1


def test_each_long_running_party_opens_only_its_own_directory(
    federation: Federation, leader: Party
) -> None:
    """The hub's, the provider connector's and the agent's processes hold open files only in
    their own state directories (and the shared code and stack), sampled from /proc."""
    own = {
        "hub": federation.hub_state,
        f"{leader.participant}-serve": leader.state,
        "supplier-01-agent": federation.parties["supplier-01"].state,
    }
    parties = [federation.hub_state, *(p.state for p in federation.parties.values())]
    for name, directory in own.items():
        assert federation.running(name), name
        opened = _open_files(federation.pid(name))
        foreign = [
            path for path in opened
            for other in parties
            if other != directory and path.is_relative_to(other)
        ]  # fmt: skip
        assert foreign == [], f"{name} has open files of other parties: {foreign}"
        assert any(path.is_relative_to(directory) for path in opened), name


def _open_files(pid: int) -> list[Path]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("/"):
            found.append(Path(target))
    return found
