"""Contract: `dataspace ledger export FILE` writes a ledger that `dataspace ledger verify
--offline FILE` checks with no database and no node, exactly as the online verify does; a
changed, removed or forged entry in the file exits 7 naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dataspace.controlplane import ledger, negotiations
from dataspace.controlplane.acting import ActInHand, Attested
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import (
    OPERATOR_ID,
    local_signing_key,
    operator_signing_key,
)
from dataspace.identity.acts import mint_act, recorded_act
from dataspace.identity.keys import SigningKey
from dataspace.ledger.chain import EntryFields, payload_hash, seal
from dataspace.ledger.export import entry_from_json, entry_json
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import PURPOSE, Space
from tests.helpers import DATASPACE

pytestmark = pytest.mark.integration

HUB_AGREEMENT = "agr-hub000000001"
SUBJECTS = (HUB_AGREEMENT, "purchase-orders", "supplier-01", "xcmg")
TAMPERED = 4  # the registration of supplier-01, in the middle of the ledger
HEAD = 13  # 10 entries of a negotiation on one node, 3 of an agreement the hub files
HEAVY = ("sqlalchemy", "alembic", "pyarrow", "confluent_kafka", "great_expectations", "minio")


def dataspace(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def environment(state: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    env.update({"DATASPACE_STATE_DIR": str(state), "COLUMNS": "200"})
    if database_url is not None:
        env["DATASPACE_DATABASE_URL"] = database_url
    return env


def hub_files_an_agreement(space: Space) -> None:
    """Both parties sign from their own connectors (the hub keeps each one's request) and the
    hub files the agreement as its own act, through the real recording path."""
    now = utcnow()
    with space.db.transaction() as session:
        operator = operator_signing_key(session, space.keys)
        steps = (("xcmg", "negotiation.agreed"), ("supplier-01", "negotiation.verified"))
        for actor, action in steps:
            key = local_signing_key(session, space.keys, actor)
            body = json.dumps({"decision": "accept"})
            path = f"/agreements/{HUB_AGREEMENT}/accept"
            token = mint_act(actor, key, "POST", path, body.encode())
            in_hand = ActInHand(recorded_act(token, key.public_key_b64), body)
            signer = Attested(actor, OPERATOR_ID, operator, in_hand)
            record(session, signer, Change(actor, action, SUBJECTS, {"step": action}), now)
        filed = Change(OPERATOR_ID, "agreement.finalized", SUBJECTS, {"filed": HUB_AGREEMENT})
        record(session, operator, filed, now)


@pytest.fixture
def busy(market: Space) -> Space:
    """An agreement concluded on one node, one filed by the hub, and a checkpoint of the head."""
    agreement_id = negotiations.request(
        market.db, market.keys, consumer="supplier-01", product_id="purchase-orders",
        purpose=PURPOSE,
    ).agreement_id  # fmt: skip
    negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)
    hub_files_an_agreement(market)
    ledger.checkpoint(market.db, market.keys)
    return market


@pytest.fixture
def exported(busy: Space, database_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "ledger.jsonl"
    done = dataspace(environment(tmp_path / "node", database_url), "ledger", "export", str(path))
    assert done.returncode == 0, done.stderr
    assert f"Exported {HEAD} entries (head {HEAD}), 1 checkpoints" in done.stdout
    return path


def offline(path: Path, *more: str) -> subprocess.CompletedProcess[str]:
    """Verify with no database: the node's state directory does not even exist."""
    nowhere = path.parent / "no-node"
    result = dataspace(environment(nowhere), "ledger", "verify", "--offline", str(path), *more)
    assert not nowhere.exists()
    assert "Traceback" not in result.stderr
    return result


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def rewrite(path: Path, values: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(value) + "\n" for value in values), encoding="utf-8")


# -- export and verify ------------------------------------------------------------------------


def test_an_exported_ledger_verifies_offline_as_it_does_online(busy: Space, exported: Path) -> None:
    online = ledger.verify(busy.db)

    result = offline(exported)
    as_json = json.loads(offline(exported, "--json").stdout)

    assert online.ok, online.message()
    assert (result.returncode, result.stdout.strip()) == (0, online.message())
    assert (as_json["ok"], as_json["entriesChecked"], as_json["headSequence"]) == (True, HEAD, HEAD)
    assert as_json["headHash"] == online.head_hash


def test_the_export_holds_keys_checkpoints_and_every_field_of_every_entry(exported: Path) -> None:
    header, *entries = lines(exported)

    assert header["type"] == "dataspace.ledger.export.v1"
    assert set(header["publicKeys"]) == {"operator", "xcmg", "supplier-01"}
    assert [c["sequence"] for c in header["checkpoints"]] == [HEAD]
    assert [entry["sequence"] for entry in entries] == list(range(1, HEAD + 1))
    assert all(entry_json(entry_from_json(entry)) == entry for entry in entries)
    agreed, verified, filed = entries[-3:]
    assert (agreed["actor"], agreed["sealer"], verified["sealer"]) == (
        "xcmg",
        "operator",
        "operator",
    )
    assert json.loads(agreed["act_body"]) == {"decision": "accept"}
    assert agreed["attestation"].count(".") == 2  # a compact JWS
    assert (filed["actor"], filed["sealer"], filed["attestation"]) == ("operator", "", "")


def test_export_refuses_to_overwrite_a_file(busy: Space, database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "taken.jsonl"
    path.write_text("mine\n")

    done = dataspace(environment(tmp_path / "node", database_url), "ledger", "export", str(path))

    assert done.returncode == 2
    assert f"The file {path} already exists; choose another name or remove it first." in (
        " ".join(done.stderr.split())
    )
    assert path.read_text() == "mine\n"


def test_offline_verify_loads_no_database_or_service_library(exported: Path) -> None:
    probe = (
        "import sys\n"
        "from dataspace.cli import main\n"
        "try:\n"
        f"    main(['ledger', 'verify', '--offline', {str(exported)!r}])\n"
        "except SystemExit as exc:\n"
        "    print('exit', exc.code)\n"
        f"print('loaded', *[m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    nowhere = exported.parent / "no-node"
    env = {**environment(nowhere), "DATASPACE_DATABASE_URL": f"sqlite:///{nowhere}/x.db"}

    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )

    assert "The ledger is intact" in done.stdout
    assert done.stdout.splitlines()[-1] == "loaded"
    assert not nowhere.exists()


# -- a tampered export ------------------------------------------------------------------------


def test_a_changed_payload_hash_is_named(exported: Path) -> None:
    values = lines(exported)
    hash_ = values[TAMPERED]["payload_hash"]
    values[TAMPERED]["payload_hash"] = ("f" if hash_[0] != "f" else "e") + hash_[1:]
    rewrite(exported, values)

    result = offline(exported)

    assert result.returncode == 7
    assert f"broken at entry #{TAMPERED} (sequence {TAMPERED}), changed" in result.stderr


def test_a_deleted_line_is_named(exported: Path) -> None:
    values = lines(exported)
    del values[TAMPERED]
    rewrite(exported, values)

    result = offline(exported)

    assert result.returncode == 7
    assert f"(sequence {TAMPERED + 1}), removed" in result.stderr
    assert f"the entries with sequence {TAMPERED} before it are missing" in result.stderr


def test_a_deleted_last_line_is_caught_by_the_checkpoint(exported: Path) -> None:
    rewrite(exported, lines(exported)[:-1])

    result = offline(exported)

    assert result.returncode == 7
    assert f"(sequence {HEAD}), removed" in result.stderr
    assert "cut off the end" in result.stderr


def test_a_line_that_is_no_entry_is_named(exported: Path) -> None:
    text = exported.read_text(encoding="utf-8").splitlines()
    text[TAMPERED] = text[TAMPERED][: len(text[TAMPERED]) // 2]
    exported.write_text("\n".join(text) + "\n", encoding="utf-8")

    result = offline(exported)

    assert result.returncode == 7
    assert f"broken at entry #{TAMPERED}, changed: line {TAMPERED + 1} of the export is not" in (
        result.stderr
    )


def test_a_changed_request_body_is_named(exported: Path) -> None:
    values = lines(exported)
    values[HEAD - 2]["act_body"] = json.dumps({"decision": "accept", "price": 0})
    rewrite(exported, values)

    result = offline(exported)

    assert result.returncode == 7
    assert f"(sequence {HEAD - 2}), bad signature: the request body it keeps" in result.stderr


def test_an_agreement_the_hub_files_on_its_own_is_refused(busy: Space, exported: Path) -> None:
    """Even holding the operator's key, the hub cannot add an agreement nobody signed."""
    values = lines(exported)
    forged = ("agr-forged000001", *SUBJECTS[1:])
    with busy.db.transaction() as session:
        operator = operator_signing_key(session, busy.keys)
    last = entry_from_json(values[-1])
    fields = EntryFields(utcnow(), "operator", "agreement.finalized", forged, payload_hash({}))
    rewrite(exported, [*values, entry_json(seal(last, fields, operator))])

    result = offline(exported)

    assert result.returncode == 7
    assert f"(sequence {HEAD + 1}), bad signature: the operator filed the agreement" in (
        result.stderr
    )


# -- keys the auditor obtained elsewhere ------------------------------------------------------


def test_keys_given_by_the_auditor_take_precedence(busy: Space, exported: Path) -> None:
    values = lines(exported)
    true_keys = dict(values[0]["publicKeys"])
    values[0]["publicKeys"]["xcmg"] = SigningKey.generate().public_key_b64
    rewrite(exported, values)
    keys = exported.parent / "keys.json"
    keys.write_text(json.dumps(true_keys))

    swapped = offline(exported)
    with_true_keys = offline(exported, "--keys", str(keys))
    keys.write_text(json.dumps({**true_keys, "supplier-01": SigningKey.generate().public_key_b64}))
    with_a_wrong_key = offline(exported, "--keys", str(keys))

    assert swapped.returncode == 7
    assert "its signature is not the actor 'xcmg''s" in swapped.stderr
    assert with_true_keys.returncode == 0, with_true_keys.stderr
    assert with_a_wrong_key.returncode == 7
    assert "'supplier-01'" in with_a_wrong_key.stderr
