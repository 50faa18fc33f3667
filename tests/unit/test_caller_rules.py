"""The API's rules that need no database: a caller's standing (and how a connector takes a
refusal of it), and asking again."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest

from dataspace.connector.remote_control_plane import RemoteControlPlane
from dataspace.controlplane.contract_state import repeat_conflict
from dataspace.controlplane.standing import refusal, require_standing
from dataspace.errors import ServiceError, Unauthorized
from dataspace.store.models import NegotiationRow

if TYPE_CHECKING:
    from dataspace.connector.state import Connector

END = datetime(2027, 3, 1, tzinfo=UTC)


def test_only_an_admitted_participant_has_standing() -> None:
    assert refusal("supplier-01", "admitted") is None
    suspended = refusal("supplier-01", "suspended")
    assert suspended is not None
    assert str(suspended) == (
        "supplier-01 is suspended by the data-space operator, so the hub answers only its own "
        "record (GET /participants/supplier-01); ask the operator to reinstate it."
    )
    pending = refusal("supplier-07", "pending")
    assert pending is not None
    assert "supplier-07 is registered but not admitted yet (pending)" in str(pending)
    assert "ask the operator to admit it" in str(pending)


def test_a_participant_without_standing_still_reads_its_own_record() -> None:
    require_standing("supplier-01", "suspended", reading="supplier-01")
    with pytest.raises(Unauthorized, match="suspended"):
        require_standing("supplier-01", "suspended", reading="xcmg")
    with pytest.raises(Unauthorized, match="suspended"):
        require_standing("supplier-01", "suspended")


def test_asking_again_conflicts_only_when_the_terms_differ() -> None:
    open_row = NegotiationRow(
        id="agr-0123456789ab", state="REQUESTED", purpose="supply-planning",
        valid_until=END, max_deliveries=None,
    )  # fmt: skip
    assert repeat_conflict(open_row, "supply-planning", END, None) is None
    assert repeat_conflict(open_row, "supply-planning", None, None) is None  # end not stated
    conflict = repeat_conflict(open_row, "forecasting", END, 5)
    assert conflict is not None
    assert str(conflict) == (
        "You already have an open request agr-0123456789ab for this offer (REQUESTED) with "
        "another purpose and maximum deliveries; ask the provider to counter it, or withdraw "
        "it with POST /agreements/agr-0123456789ab/reject (`agreement reject "
        "agr-0123456789ab`) and ask again."
    )


class RefusingHub:
    """A hub that refuses this connector every registry lookup, as it does once suspended."""

    def get(self, path: str, params: object = None) -> object:
        raise Unauthorized(str(refusal("supplier-01", "suspended")))


def test_a_suspended_subscribers_agent_waits_instead_of_rejecting_announcements() -> None:
    connector = cast("Connector", SimpleNamespace(participant="supplier-01", hub=RefusingHub()))
    control = RemoteControlPlane(connector)
    # A ServiceError makes the agent hold the announcement (Deferred, not committed); an
    # Unauthorized would dead-letter it as signed by an unknown party.
    with pytest.raises(ServiceError, match="supplier-01 is suspended"):
        control.public_key_of("xcmg")
