"""Scenario applications on both databases: one scenario one application, only the product's
authority decides, approval concludes the licensing agreement, every step is in the ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dataspace.controlplane import agreements, applications, ledger
from dataspace.controlplane.applications import Scenario
from dataspace.errors import Conflict, InvalidInput, Refused, Unauthorized
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.worlds.public_data_world import AUTHORITY, OPERATOR_OFFER, SCHEMA

pytestmark = pytest.mark.integration

PRODUCT = "energy-emissions"


def scenario(name: str = "park-carbon", tier: str = "general") -> Scenario:
    now = utcnow()
    return Scenario(name, "carbon-accounting", tier, now - timedelta(hours=1),
                    now + timedelta(days=90), "园区碳核算")  # fmt: skip


@pytest.fixture
def public(space: Space) -> Space:
    space.member(AUTHORITY, role="public_data_authority")
    space.member("op-a", role="authorized_operator")
    space.member("supplier-01")
    space.product(PRODUCT, owner=AUTHORITY, schema=SCHEMA, offers=(OPERATOR_OFFER,))
    return space


def apply(space: Space, who: str = "op-a", wanted: Scenario | None = None) -> str:
    view = applications.apply(
        space.db, space.keys, applicant=who, product=PRODUCT, scenario=wanted or scenario()
    )
    return view.application_id


def test_approval_concludes_the_licensing_agreement(public: Space) -> None:
    application = apply(public)
    assert applications.show(public.db, application).status == "pending"
    assert applications.licensed_agreements(public.db, PRODUCT, utcnow()) == {}

    approved = applications.approve(
        public.db, public.keys, authority=AUTHORITY, application=application
    )

    assert approved.status == "approved"
    assert approved.agreement_id is not None
    agreement = agreements.show(public.db, "op-a", approved.agreement_id)
    assert (agreement.state, agreement.purpose) == ("FINALIZED", "carbon-accounting")
    assert agreement.valid_until == approved.term_end
    assert applications.licensed_agreements(public.db, PRODUCT, utcnow()) == {
        approved.agreement_id: application
    }
    again = applications.approve(
        public.db, public.keys, authority=AUTHORITY, application=application
    )
    assert again.agreement_id == approved.agreement_id
    actions = public.actions()
    assert actions.count("application.submitted") == 1
    assert actions.count("application.approved") == 1
    assert ledger.verify(public.db).ok


def test_rejection_concludes_nothing_and_is_final(public: Space) -> None:
    application = apply(public)
    rejected = applications.reject(
        public.db, public.keys, authority=AUTHORITY, application=application, reason="不符合"
    )
    assert (rejected.status, rejected.decision_reason) == ("rejected", "不符合")
    assert agreements.list_agreements(public.db, "op-a") == []
    with pytest.raises(Conflict, match="already rejected"):
        applications.approve(public.db, public.keys, authority=AUTHORITY, application=application)
    with pytest.raises(Refused, match="is rejected, so nothing is released"):
        applications.require_approved(public.db, application, utcnow())
    assert "application.rejected" in public.actions()


def test_one_scenario_takes_one_application(public: Space) -> None:
    apply(public)
    before = public.counts()
    with pytest.raises(Conflict, match="one scenario takes one application"):
        apply(public)
    assert public.counts() == before
    apply(public, wanted=scenario("site-selection"))


def test_only_authorized_operators_apply_and_only_the_authority_decides(public: Space) -> None:
    with pytest.raises(Unauthorized, match="not an authorized operator"):
        apply(public, who="supplier-01")
    application = apply(public)
    with pytest.raises(Unauthorized, match="decides applications"):
        applications.approve(public.db, public.keys, authority="op-a", application=application)
    with pytest.raises(InvalidInput, match="needs a reason"):
        applications.reject(
            public.db, public.keys, authority=AUTHORITY, application=application, reason=" "
        )


def test_a_tier_below_the_grade_is_refused(space: Space) -> None:
    space.member(AUTHORITY, role="public_data_authority")
    space.member("op-a", role="authorized_operator")
    space.product(PRODUCT, owner=AUTHORITY, schema=SCHEMA, offers=(OPERATOR_OFFER,),
                  grade="important")  # fmt: skip
    application = apply(space)
    with pytest.raises(Refused, match="graded important, above the general tier"):
        applications.approve(space.db, space.keys, authority=AUTHORITY, application=application)


def test_a_bad_scenario_is_one_sentence() -> None:
    now = utcnow()
    with pytest.raises(InvalidInput, match="ends before it starts"):
        Scenario("s", "p", "general", now, now - timedelta(days=1))
    with pytest.raises(InvalidInput, match="tier"):
        Scenario("s", "p", "secret", now, now + timedelta(days=1))
