"""Contract: registration, admission, suspension and reinstatement of participants."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import update

from dataspace.controlplane import participants
from dataspace.errors import Conflict, InvalidInput, NotFound, Unauthorized
from dataspace.identity.membership import Registration, Role
from dataspace.identity.uscc import make_uscc
from dataspace.store.models import ParticipantRow
from tests.fixtures.controlplane import Space

pytestmark = pytest.mark.integration


def test_registration_stores_the_public_key_and_keeps_the_private_key_0600(space: Space) -> None:
    view = space.register("supplier-01")

    key_file = space.keys.path_of("supplier-01")
    assert view.status == "pending"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert space.keys.signing_key("supplier-01", view.public_key).public_key_b64 == view.public_key
    assert b"PRIVATE" not in repr(view).encode()


def test_registration_admission_suspension_and_reinstatement(space: Space) -> None:
    space.register("supplier-01")

    admitted = participants.admit(space.db, space.keys, "supplier-01")
    suspended = participants.suspend(space.db, space.keys, "supplier-01")
    reinstated = participants.reinstate(space.db, space.keys, "supplier-01")

    assert admitted.status == "admitted"
    assert admitted.membership_valid_until is not None
    assert suspended.status == "suspended"
    assert suspended.suspended_at is not None
    assert reinstated.status == "admitted"
    assert space.actions()[1:] == [
        "participant.registered",
        "participant.admitted",
        "participant.suspended",
        "participant.reinstated",
    ]
    # A registration is not announced; a reinstatement is an admission for consumers' key caches.
    assert space.topics() == [
        ("dataspace.participants.admitted.v1", "operator"),
        ("dataspace.participants.admitted.v1", "supplier-01"),
        ("dataspace.participants.suspended.v1", "supplier-01"),
        ("dataspace.participants.admitted.v1", "supplier-01"),
    ]


def test_repeating_a_membership_change_records_nothing(space: Space) -> None:
    space.member("supplier-01")
    before = space.counts()

    participants.admit(space.db, space.keys, "supplier-01")
    participants.reinstate(space.db, space.keys, "supplier-01")
    participants.suspend(space.db, space.keys, "supplier-01")
    after_suspend = space.counts()
    participants.suspend(space.db, space.keys, "supplier-01")

    assert after_suspend == (before[0] + 1, before[1] + 1)
    assert space.counts() == after_suspend


@pytest.mark.parametrize("duplicate", ["uscc", "id"])
def test_a_duplicate_registration_is_a_conflict_and_writes_nothing(
    space: Space, duplicate: str
) -> None:
    first = space.register("supplier-01")
    before = space.counts()
    same_code = first.uscc if duplicate == "uscc" else space.uscc()
    same_id = "supplier-01" if duplicate == "id" else "supplier-02"
    again = Registration(same_id, "Copy Co.", same_code, frozenset({Role.SUPPLIER}), "CN-JS")

    with pytest.raises(Conflict, match="already registered") as caught:
        participants.register(space.db, space.keys, again)

    assert "\n" not in str(caught.value)
    assert space.counts() == before
    assert [p.participant_id for p in participants.list_participants(space.db)] == [
        "operator",
        "supplier-01",
    ]
    assert space.keys.has("supplier-02") is False


def test_nobody_else_takes_the_operator_role(space: Space) -> None:
    fake = Registration("hub", "Hub", space.uscc(), frozenset({Role.OPERATOR}), "CN-JS")

    with pytest.raises(InvalidInput, match="belong to the data-space operator"):
        participants.register(space.db, space.keys, fake)


def test_a_suspended_participant_cannot_be_admitted_again(space: Space) -> None:
    space.member("supplier-01")
    participants.suspend(space.db, space.keys, "supplier-01")

    with pytest.raises(Conflict, match="reinstate it"):
        participants.admit(space.db, space.keys, "supplier-01")


def test_an_unknown_participant_is_not_found(space: Space) -> None:
    with pytest.raises(NotFound, match="'ghost'"):
        participants.admit(space.db, space.keys, "ghost")


def test_a_swapped_key_file_is_refused(space: Space) -> None:
    space.register("supplier-01")
    space.register("supplier-02")
    space.keys.path_of("supplier-01").unlink()
    space.keys.path_of("supplier-02").rename(space.keys.path_of("supplier-01"))

    with pytest.raises(Unauthorized, match="does not match the public key registered"):
        participants.authenticate(space.db, space.keys, "supplier-01")


def test_a_changed_row_no_longer_counts_as_admitted(space: Space) -> None:
    """The credential is checked against the row at use: editing roles in SQL breaks it."""
    space.member("supplier-01")
    with space.db.transaction() as session:
        session.execute(
            update(ParticipantRow).where(ParticipantRow.id == "supplier-01").values(region="US")
        )

    with pytest.raises(Unauthorized, match="does not verify"), space.db.transaction() as session:
        participants.require_active(session, "supplier-01", participants.utcnow(), "negotiate")


def test_operator_init_is_idempotent_and_refuses_a_second_operator(space: Space) -> None:
    before = space.counts()
    again = participants.init_operator(
        space.db,
        space.keys,
        name="Jiangsu Data Hub",
        uscc=make_uscc("12320000MB0000001"),
        region="CN-JS",
    )

    assert again.roles == ("operator",)
    assert space.counts() == before
    with pytest.raises(Conflict, match="initialised once"):
        participants.init_operator(
            space.db, space.keys, name="Other Hub", uscc=space.uscc(), region="CN"
        )
