"""Scenario applications on both databases: one application in force per scenario, attempts
kept, only the product's authority decides, approval concludes the licensing agreement and is
atomic, a licence on public data comes only from an approved application, every step is in
the ledger."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dataspace.api.app import create_app
from dataspace.config import load_settings
from dataspace.controlplane import (
    agreements,
    applications,
    ledger,
    negotiations,
    participants,
    signing,
)
from dataspace.controlplane.applications import Scenario
from dataspace.errors import Conflict, InvalidInput, Refused, ServiceError, Unauthorized
from dataspace.policy.model import parse_policy
from dataspace.store.db import Database, alembic_config, migrate
from dataspace.store.models import AgreementRow, NegotiationRow
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import ARTIFACTS, Space
from tests.integration.test_api import auth
from tests.worlds.public_data_world import AUTHORITY, OPERATOR_OFFER, SCHEMA

pytestmark = pytest.mark.integration

PRODUCT = "energy-emissions"


def scenario(
    name: str = "park-carbon", tier: str = "general", *, ends: timedelta = timedelta(days=90)
) -> Scenario:
    now = utcnow()
    return Scenario(name, "carbon-accounting", tier, now - timedelta(days=100), now + ends,
                    "园区碳核算")  # fmt: skip


@pytest.fixture
def public(space: Space) -> Space:
    space.member(AUTHORITY, role="public_data_authority")
    space.member("op-a", role="authorized_operator")
    space.member("op-b", role="authorized_operator")
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


def test_one_scenario_takes_one_application_in_force(public: Space) -> None:
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


# -- issue 21: attempts, atomic decisions, licences only from approved applications ---------


def negotiation_footprint(space: Space) -> tuple[int, int, list[str]]:
    """(negotiations, agreements, negotiation ledger actions) on the space."""
    with space.db.transaction() as session:
        negotiations_held = session.scalar(select(func.count()).select_from(NegotiationRow))
        agreements_held = session.scalar(select(func.count()).select_from(AgreementRow))
    steps = [action for action in space.actions() if action.startswith("negotiation.")]
    return negotiations_held or 0, agreements_held or 0, steps


def reject(space: Space, application: str, reason: str = "不符合") -> None:
    applications.reject(
        space.db, space.keys, authority=AUTHORITY, application=application, reason=reason
    )


def approve(space: Space, application: str, now: datetime | None = None) -> str:
    view = applications.approve(
        space.db, space.keys, authority=AUTHORITY, application=application, now=now
    )
    assert view.agreement_id is not None
    return view.agreement_id


def test_approving_a_rejected_application_concludes_nothing(public: Space) -> None:
    rejected = apply(public)
    reject(public, rejected)
    before = negotiation_footprint(public)

    with pytest.raises(Conflict, match="already rejected, so it cannot be approved"):
        approve(public, rejected)

    assert negotiation_footprint(public) == before == (0, 0, [])
    assert applications.show(public.db, rejected).status == "rejected"
    licensed = approve(public, apply(public, who="op-b"))
    now = utcnow()
    in_force = {
        s.agreement.agreement_id
        for s in agreements.standings(public.db, public.keys, PRODUCT, now=now)
        if s.refusal is None
    }
    # what check_licences (publicdata/release.py) compares: nothing unlicensed blocks op-b
    assert in_force == set(applications.licensed_agreements(public.db, PRODUCT, now)) == {licensed}


def test_a_rejected_operator_applies_again_as_a_new_attempt(public: Space) -> None:
    first = apply(public)
    reject(public, first, "范围过宽")

    second = apply(public)

    assert second != first
    assert (
        first == "app-" + hashlib.sha256(f"op-a\n{PRODUCT}\npark-carbon".encode()).hexdigest()[:16]
    )
    assert second == applications.application_id("op-a", PRODUCT, "park-carbon", 2)
    history = applications.attempts(public.db, second)
    assert [(a.application_id, a.attempt, a.status, a.decision_reason) for a in history] == [
        (first, 1, "rejected", "范围过宽"),
        (second, 2, "pending", None),
    ]
    assert history[0].decided_at is not None
    assert applications.attempts(public.db, first) == history
    with pytest.raises(Conflict, match=rf"{second} \(attempt 2, pending\) in force"):
        apply(public)
    approve(public, second)
    with pytest.raises(Conflict, match="apply again once its term ends"):
        apply(public)
    assert [a.attempt for a in applications.list_applications(public.db, PRODUCT)] == [1, 2]


def test_after_the_approved_term_ends_the_operator_applies_again(public: Space) -> None:
    approve(public, apply(public))
    later = utcnow() + timedelta(days=91)
    third = applications.apply(
        public.db, public.keys, applicant="op-a", product=PRODUCT,
        scenario=scenario(ends=timedelta(days=400)), now=later,
    )  # fmt: skip
    assert (third.attempt, third.status) == (2, "pending")


def test_a_licence_on_public_data_comes_only_from_an_approved_application(
    public: Space,
) -> None:
    before = negotiation_footprint(public), public.counts()
    with pytest.raises(Refused, match=r"public data .* licensed only through an approved"):
        negotiations.request(public.db, public.keys, consumer="op-a", product_id=PRODUCT,
                             purpose="carbon-accounting")  # fmt: skip
    assert (negotiation_footprint(public), public.counts()) == before
    approve(public, apply(public))
    with pytest.raises(Refused, match="application apply --product energy-emissions"):
        negotiations.request(public.db, public.keys, consumer="op-a", product_id=PRODUCT,
                             purpose="credit-scoring")  # fmt: skip
    assert len(agreements.list_agreements(public.db, "op-a")) == 1


def test_a_licence_cannot_be_countered_into_other_terms(public: Space) -> None:
    pending = applications.show(public.db, apply(public))
    with public.db.transaction() as session:
        opened = negotiations.request_licence(session, public.keys, application=pending,
                                              now=utcnow()).id  # fmt: skip
    narrower = parse_policy({**OPERATOR_OFFER, "uid": "urn:policy:public-energy-2"})
    negotiations.counter(public.db, public.keys, provider=AUTHORITY, negotiation_id=opened,
                         policy=narrower, artifacts=ARTIFACTS)  # fmt: skip
    wider = parse_policy({**OPERATOR_OFFER, "uid": "urn:policy:mine"})
    with pytest.raises(Refused, match="licensed only through an approved scenario"):
        negotiations.counter_request(public.db, public.keys, consumer="op-a",
                                     negotiation_id=opened, policy=wider,
                                     artifacts=ARTIFACTS)  # fmt: skip
    assert agreements.show(public.db, "op-a", opened).state == "OFFERED"


@pytest.mark.parametrize("obstacle", ["term-ended", "applicant-suspended", "tier"])
def test_approval_refused_for_any_reason_concludes_nothing(space: Space, obstacle: str) -> None:
    space.member(AUTHORITY, role="public_data_authority")
    space.member("op-a", role="authorized_operator")
    grade = "important" if obstacle == "tier" else "general"
    space.product(PRODUCT, owner=AUTHORITY, schema=SCHEMA, offers=(OPERATOR_OFFER,),
                  grade=grade)  # fmt: skip
    ends = timedelta(days=-1) if obstacle == "term-ended" else timedelta(days=90)
    application = apply(space, wanted=scenario(ends=ends))
    if obstacle == "applicant-suspended":
        participants.suspend(space.db, space.keys, "op-a")
    before = negotiation_footprint(space), space.counts()
    expected = {"term-ended": (Refused, "ended at .* nothing is approved"),
                "applicant-suspended": (Unauthorized, "suspended"),
                "tier": (Refused, "above the general tier")}[obstacle]  # fmt: skip
    with pytest.raises(expected[0], match=expected[1]):
        approve(space, application)
    assert (negotiation_footprint(space), space.counts()) == before
    assert applications.show(space.db, application).status == "pending"


def test_a_failure_while_concluding_terminates_the_licence(
    public: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    application = apply(public)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ServiceError("The disk is full.")

    with monkeypatch.context() as patched:
        patched.setattr(signing, "finalize", broken)
        with pytest.raises(ServiceError, match="disk is full"):
            approve(public, application)

    [left] = agreements.list_agreements(public.db, "op-a")
    assert left.state == "TERMINATED"
    assert applications.show(public.db, application).status == "pending"
    assert applications.licensed_agreements(public.db, PRODUCT, utcnow()) == {}
    assert approve(public, application) != left.agreement_id  # a retry concludes a new one
    assert ledger.verify(public.db).ok


def test_an_approval_that_cannot_be_recorded_revokes_its_licence(
    public: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    application = apply(public)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ServiceError("The disk is full.")

    with monkeypatch.context() as patched:
        patched.setattr(applications, "_record_approval", broken)
        with pytest.raises(ServiceError):
            approve(public, application)

    [left] = agreements.list_agreements(public.db, "op-a")
    assert (left.state, applications.show(public.db, application).status) == (
        "TERMINATED", "pending"
    )  # fmt: skip


def test_concurrent_approvals_conclude_one_licence(public: Space) -> None:
    application = apply(public)
    outcomes: list[str] = []

    def approve_once() -> None:
        try:
            outcomes.append(approve(public, application))
        except Conflict as exc:
            outcomes.append(f"conflict: {exc}")

    threads = [threading.Thread(target=approve_once) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    concluded = [a for a in agreements.list_agreements(public.db, "op-a") if a.state == "FINALIZED"]
    assert len(concluded) == 1
    recorded = applications.show(public.db, application)
    assert (recorded.status, recorded.agreement_id) == ("approved", concluded[0].agreement_id)
    assert set(outcomes) - {concluded[0].agreement_id} <= {
        o for o in outcomes if o.startswith("conflict: An approval of")
    }
    assert public.actions().count("application.approved") == 1


def test_the_hub_api_refuses_a_direct_licence(
    public: Space, database_url: str, tmp_path: Path
) -> None:
    settings = load_settings(state_dir=tmp_path, database_url=database_url)
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            "/agreements",
            json={"product_id": PRODUCT, "purpose": "carbon-accounting"},
            headers=auth(public, "op-a"),
        )
    assert answer.status_code == 400
    assert answer.json()["error"] == "Refused"
    assert "licensed only through an approved scenario application" in answer.json()["message"]
    assert negotiation_footprint(public)[:2] == (0, 0)


def test_existing_applications_become_attempt_one(public: Space, database_url: str) -> None:
    kept = apply(public)
    with Database(database_url) as db, db.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0007")
    migrate(database_url)

    with Database(database_url) as db:
        view = applications.show(db, kept)
        assert (view.application_id, view.attempt, view.status) == (kept, 1, "pending")
        applications.reject(db, public.keys, authority=AUTHORITY, application=kept, reason="x")
        again = applications.apply(db, public.keys, applicant="op-a", product=PRODUCT,
                                   scenario=scenario())  # fmt: skip
    assert again.attempt == 2


def test_an_interrupted_approval_is_finished_or_refused(public: Space) -> None:
    application = apply(public)
    pending = applications.show(public.db, application)
    with public.db.transaction() as session:  # an approval that stopped after opening
        opened = negotiations.request_licence(session, public.keys, application=pending,
                                              now=utcnow()).id  # fmt: skip
    for decide in (approve, reject):
        with pytest.raises(Conflict, match=f"agreement reject {opened} --as {AUTHORITY}"):
            decide(public, application)
    negotiations.accept(public.db, public.keys, actor=AUTHORITY, negotiation_id=opened)
    with pytest.raises(Conflict, match=r"interrupted approval .* approve it again"):
        reject(public, application)  # an approval that stopped after concluding

    assert approve(public, application) == opened
    assert len(agreements.list_agreements(public.db, "op-a")) == 1


def test_two_scenarios_with_the_same_terms_get_a_licence_each(public: Space) -> None:
    same = scenario()
    carbon = apply(public, wanted=same)
    siting = apply(public, wanted=Scenario("site-selection", same.purpose, same.tier,
                                           same.term_start, same.term_end))  # fmt: skip
    first, second = approve(public, carbon), approve(public, siting)

    assert first != second
    assert applications.licensed_agreements(public.db, PRODUCT, utcnow()) == {
        first: carbon, second: siting
    }  # fmt: skip
