import itertools
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime, timedelta

import pytest

from dataspace.errors import InvalidInput, NotFound
from dataspace.identity.keys import SigningKey
from dataspace.ledger.chain import (
    GENESIS_HASH,
    EntryFields,
    LedgerEntry,
    Problem,
    compute_entry_hash,
    payload_hash,
    seal,
    verify_chain,
)
from dataspace.ledger.checkpoint import sign_checkpoint

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
KEYS = {name: SigningKey.generate() for name in ("operator", "chain-leader", "supplier-01")}
ACTORS = ["operator", "chain-leader", "supplier-01", "chain-leader", "operator", "supplier-01"]


def public_key_of(actor):
    if actor not in KEYS:
        raise NotFound(f"The participant {actor!r} is not registered.")
    return KEYS[actor].public_key_b64


def build(count=6):
    entries, prev = [], None
    for index in range(count):
        actor = ACTORS[index % len(ACTORS)]
        draft = EntryFields(
            time=T0 + timedelta(minutes=index),
            actor=actor,
            action="agreement.finalized" if index % 2 else "participant.admitted",
            subject_ids=(f"agr-{index:04d}", "demand-forecast"),
            payload_hash=payload_hash({"index": index}),
        )
        prev = seal(prev, draft, KEYS[actor])
        entries.append(prev)
    return entries


CHAIN = build()


def test_genesis_and_linking():
    assert CHAIN[0].sequence == 1
    assert CHAIN[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(CHAIN):
        assert after.sequence == before.sequence + 1
        assert after.prev_hash == before.entry_hash
    assert all(compute_entry_hash(entry) == entry.entry_hash for entry in CHAIN)
    assert CHAIN[0].time == "2026-03-01T08:00:00Z"


def test_seal_is_deterministic():
    assert build() == CHAIN


def test_intact_chain_verifies():
    result = verify_chain(iter(CHAIN), public_key_of)
    assert result.ok
    assert result.entries_checked == 6
    assert result.head_sequence == 6
    assert result.head_hash == CHAIN[-1].entry_hash
    assert "intact" in result.message()


def test_empty_ledger_is_intact():
    assert verify_chain([], public_key_of).ok


def _other_value(name, value):  # noqa: PLR0911 - one case per field reads best
    if name == "sequence":
        return value + 1
    if name == "subject_ids":
        return (*value, "extra")
    if name in ("payload_hash", "prev_hash", "entry_hash"):
        return ("f" if value[0] != "f" else "e") + value[1:]
    if name == "signature":
        return ("A" if value[0] != "A" else "B") + value[1:]
    if name == "time":
        return value.replace("08:", "09:")
    if name == "actor":
        return "supplier-01" if value != "supplier-01" else "operator"
    return value + ".x"


@pytest.mark.parametrize("index", range(len(CHAIN)))
@pytest.mark.parametrize("name", [field.name for field in fields(LedgerEntry)])
def test_tampering_any_field_of_any_entry_is_detected_there(index, name):
    tampered = list(CHAIN)
    value = getattr(CHAIN[index], name)
    tampered[index] = replace(CHAIN[index], **{name: _other_value(name, value)})
    result = verify_chain(tampered, public_key_of)
    assert not result.ok
    assert result.position == index + 1
    # act_body is covered by the act's body hash, not the entry hash: an actor-sealed entry
    # that suddenly carries a request is refused as not its actor's.
    expected = Problem.BAD_SIGNATURE if name in ("signature", "act_body") else Problem.CHANGED
    assert result.problem is expected
    assert f"entry #{index + 1}" in result.message()


@pytest.mark.parametrize("index", range(len(CHAIN)))
def test_changed_and_rehashed_entry_fails_on_its_signature(index):
    tampered = list(CHAIN)
    forged = replace(CHAIN[index], payload_hash=payload_hash("forged"))
    tampered[index] = replace(forged, entry_hash=compute_entry_hash(forged))
    result = verify_chain(tampered, public_key_of)
    assert (result.problem, result.position) == (Problem.BAD_SIGNATURE, index + 1)


@pytest.mark.parametrize("index", range(len(CHAIN)))
def test_removing_any_entry_is_detected(index):
    result = verify_chain(CHAIN[:index] + CHAIN[index + 1 :], public_key_of)
    if index == len(CHAIN) - 1:
        assert result.ok  # a cut tail needs a checkpoint: see below
        return
    assert result.problem is Problem.REMOVED
    assert result.position == index + 1
    assert result.sequence == index + 2
    assert f"sequence {index + 1} before it are missing" in result.detail


def test_removing_several_entries_names_the_range():
    result = verify_chain(CHAIN[:1] + CHAIN[4:], public_key_of)
    assert result.problem is Problem.REMOVED
    assert "sequence 2 to 4" in result.detail


@pytest.mark.parametrize("index", range(len(CHAIN) - 1))
def test_swapping_adjacent_entries_is_reordered(index):
    swapped = list(CHAIN)
    swapped[index], swapped[index + 1] = swapped[index + 1], swapped[index]
    result = verify_chain(swapped, public_key_of)
    assert result.problem is Problem.REORDERED
    assert result.position == index + 1


def test_moving_an_entry_to_the_end_is_reordered_not_removed():
    moved = [*CHAIN[:2], *CHAIN[3:], CHAIN[2]]
    result = verify_chain(moved, public_key_of)
    assert (result.problem, result.position) == (Problem.REORDERED, 3)
    assert "comes before sequence 3" in result.detail


def test_duplicated_entry_is_reordered():
    result = verify_chain([*CHAIN[:3], CHAIN[2], *CHAIN[3:]], public_key_of)
    assert (result.problem, result.position) == (Problem.REORDERED, 4)


def test_swapping_signatures_between_entries_is_detected():
    swapped = list(CHAIN)
    swapped[1] = replace(CHAIN[1], signature=CHAIN[3].signature)
    swapped[3] = replace(CHAIN[3], signature=CHAIN[1].signature)
    result = verify_chain(swapped, public_key_of)
    assert (result.problem, result.position) == (Problem.BAD_SIGNATURE, 2)


def test_a_resigned_rewrite_breaks_the_link_to_the_next_entry():
    # Someone holding entry 3's actor key rewrites it completely; entry 4 still points at
    # the original, so the link breaks there.
    rewritten = list(CHAIN)
    draft = EntryFields(T0, CHAIN[2].actor, "agreement.revoked", ("agr-9999",), "a" * 64)
    rewritten[2] = seal(CHAIN[1], draft, KEYS[CHAIN[2].actor])
    result = verify_chain(rewritten, public_key_of)
    assert (result.problem, result.position) == (Problem.REORDERED, 4)
    assert "previous-entry hash" in result.detail


def test_unknown_actor_is_a_bad_signature():
    stranger = SigningKey.generate()
    entry = seal(CHAIN[-1], EntryFields(T0, "stranger", "x.y", (), "0" * 64), stranger)
    result = verify_chain([*CHAIN, entry], public_key_of)
    assert result.problem is Problem.BAD_SIGNATURE
    assert "not registered" in result.detail


def test_verification_streams_with_constant_memory():
    consumed = []

    def generator():
        for entry in CHAIN:
            consumed.append(entry.sequence)
            yield entry

    assert verify_chain(generator(), public_key_of).ok
    assert consumed == [1, 2, 3, 4, 5, 6]


def test_verifying_a_tail_after_a_known_entry():
    result = verify_chain(CHAIN[3:], public_key_of, after=(3, CHAIN[2].entry_hash))
    assert result.ok
    assert result.entries_checked == 3


def _checkpoint(entry, key=None):
    key = key or KEYS["operator"]
    return sign_checkpoint(entry.sequence, entry.entry_hash, T0, "operator", key)


def test_checkpoint_detects_a_cut_tail():
    checkpoint = _checkpoint(CHAIN[-1])
    operator = KEYS["operator"].public_key_b64
    assert verify_chain(CHAIN, public_key_of, checkpoints=[checkpoint], operator_key=operator).ok
    result = verify_chain(
        CHAIN[:-2], public_key_of, checkpoints=[checkpoint], operator_key=operator
    )
    assert (result.problem, result.sequence) == (Problem.REMOVED, 5)
    assert "cut off the end" in result.message()


def test_checkpoint_detects_a_fully_resigned_rewrite():
    # Every actor re-seals a different history: the chain is consistent but not the one
    # the operator vouched for.
    checkpoint = _checkpoint(CHAIN[2])
    rewritten, prev = [], None
    for entry in CHAIN:
        draft = EntryFields(
            datetime.fromisoformat(entry.time), entry.actor, entry.action, (), entry.payload_hash
        )
        prev = seal(prev, draft, KEYS[entry.actor])
        rewritten.append(prev)
    assert verify_chain(rewritten, public_key_of).ok
    result = verify_chain(
        rewritten,
        public_key_of,
        checkpoints=[checkpoint],
        operator_key=KEYS["operator"].public_key_b64,
    )
    assert (result.problem, result.position) == (Problem.CHANGED, 3)
    assert "checkpoint" in result.detail


def test_forged_checkpoint_is_refused():
    forged = _checkpoint(CHAIN[-1], key=KEYS["chain-leader"])
    result = verify_chain(
        CHAIN, public_key_of, checkpoints=[forged], operator_key=KEYS["operator"].public_key_b64
    )
    assert result.problem is Problem.BAD_CHECKPOINT
    assert "cannot be checked" in result.message()
    altered = replace(_checkpoint(CHAIN[-1]), sequence=7)
    result = verify_chain(
        CHAIN, public_key_of, checkpoints=[altered], operator_key=KEYS["operator"].public_key_b64
    )
    assert result.problem is Problem.BAD_CHECKPOINT


def test_checkpoints_need_the_operator_key():
    with pytest.raises(InvalidInput, match="operator's public key"):
        verify_chain(CHAIN, public_key_of, checkpoints=[_checkpoint(CHAIN[0])])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"actor": "Bad Actor"}, "participant id"),
        ({"action": "Agreement Finalized"}, "dotted lowercase"),
        ({"subject_ids": ("ok", "no spaces")}, "subject id"),
        ({"payload_hash": "abc"}, "64 lowercase hex"),
        ({"time": datetime(2026, 1, 1)}, "no timezone"),
    ],
)
def test_seal_rejects_bad_fields(change, message):
    draft = EntryFields(T0, "operator", "x.y", (), "0" * 64)
    with pytest.raises(InvalidInput, match=message):
        seal(None, replace(draft, **change), KEYS["operator"])


def test_entry_hash_covers_every_field_but_hash_and_signature():
    body = asdict(CHAIN[0])
    for name in body:
        if name in ("entry_hash", "signature", "act_body"):
            assert compute_entry_hash(replace(CHAIN[0], **{name: "x"})) == CHAIN[0].entry_hash
        else:
            changed = replace(CHAIN[0], **{name: _other_value(name, body[name])})
            assert compute_entry_hash(changed) != CHAIN[0].entry_hash
