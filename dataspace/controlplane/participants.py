"""Participants: the operator, registration, admission, suspension and reinstatement.

Rules enforced here (the CLI and the API only call these functions):

- the data-space operator is a participant too, with the fixed id ``operator`` and the role
  ``operator``; ``init_operator`` registers it, creates ``operator.pem`` and admits it with a
  credential it signs itself. It is explicit: nothing creates the operator on first need, so
  a node never ends up with an operator key nobody asked for;
- nobody else may take the operator's id or role;
- a credit code or id is registered once (Conflict, and no row, entry, event or key file);
- every participant gets a fresh Ed25519 key pair here; the private key goes to the key store
  (mode 0600) and only the public key to the database;
- only the operator admits (issuing a signed membership credential), suspends and reinstates;
- a participant is *active* when it is admitted and its credential verifies against the
  operator's key and is valid now; only active participants negotiate or receive data.

Every change writes one ledger entry signed by the acting party. Admission (and the operator's
self-admission) and reinstatement announce a ParticipantAdmitted event, suspension a
ParticipantSuspended event, both keyed by the participant, so consumers refresh the keys they
accept; a registration is not announced (the participant cannot act before admission).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.controlplane.acting import Attested, Signer, act_of
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.read_models import ParticipantView
from dataspace.errors import Conflict, DataspaceError, InvalidInput, NotFound, Unauthorized
from dataspace.identity.keys import SigningKey, load_public_key
from dataspace.identity.keystore import KeyStore
from dataspace.identity.membership import (
    MembershipCredential,
    Registration,
    Role,
    issue_membership,
    verify_membership,
)
from dataspace.ids import participant_id, validate_slug
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import ParticipantRow
from dataspace.store.types import utcnow

OPERATOR_ID = "operator"
MAX_CUSTODY = 200
MEMBERSHIP_TERM = timedelta(days=365)
NOT_INITIALIZED = (
    "The data-space operator is not set up on this node; run `dataspace operator init` first."
)


def init_operator(
    db: Database, keys: KeyStore, *, name: str, uscc: str, region: str, now: datetime | None = None
) -> ParticipantView:
    """Register and admit the operator; running it again with the same facts is a no-op."""
    now = now or utcnow()
    registration = Registration(OPERATOR_ID, name, uscc, frozenset({Role.OPERATOR}), region)
    with db.transaction() as session:
        existing = session.get(ParticipantRow, OPERATOR_ID)
        if existing is not None:
            _same_operator(existing, registration)
            keys.signing_key(OPERATOR_ID, existing.public_key)  # the key must still be here
            return view_of(existing)
    return _create(db, keys, registration, now, admit_self=True)


def register(
    db: Database, keys: KeyStore, registration: Registration, *, now: datetime | None = None
) -> ParticipantView:
    """Register a participant (status pending) with a new key pair; signed by its new key."""
    if registration.participant_id == OPERATOR_ID or Role.OPERATOR in registration.roles:
        raise InvalidInput(
            "The id 'operator' and the role 'operator' belong to the data-space operator; "
            "choose another id and role, or run `dataspace operator init`."
        )
    return _create(db, keys, registration, now or utcnow(), admit_self=False)


def register_connector(
    db: Database,
    keys: KeyStore,
    registration: Registration,
    *,
    public_key: str,
    endpoint: str | None,
    custody: str = "connector",
    now: datetime | None = None,
) -> ParticipantView:
    """Register a participant whose key is on its own connector (status pending).

    The caller has checked that the request is signed with ``public_key`` (proof of
    possession) and runs this with that act in hand: the ledger keeps the signed
    registration as the participant's own act. Nothing here ever sees a private key.
    """
    if registration.participant_id == OPERATOR_ID or Role.OPERATOR in registration.roles:
        raise InvalidInput(
            "The id 'operator' and the role 'operator' belong to the data-space operator; "
            "choose another id and role."
        )
    _check_custody(custody)
    now = now or utcnow()
    with db.transaction() as session:
        _refuse_duplicate(session, registration)
        row = ParticipantRow(
            id=registration.participant_id,
            name=registration.name,
            uscc=registration.uscc,
            roles=sorted(role.value for role in registration.roles),
            region=registration.region,
            industry_chains=sorted(registration.industry_chains),
            public_key=load_public_key_b64(public_key),
            status="pending",
            created_at=now,
            updated_at=now,
            custody=custody,
            endpoint=endpoint,
        )
        session.add(row)
        session.flush()
        facts = {
            "registration": membership_facts(row),
            "publicKey": row.public_key,
            "custody": custody,
        }
        change = Change(row.id, "participant.registered", (row.id,), facts)
        record(session, party_signing_key(session, keys, row.id), change, now)
        return view_of(row)


def credential(db: Database, participant: str) -> dict[str, Any]:
    """The participant's membership credential as the operator signed it; Conflict before
    admission, and for a suspended participant (its credential does not make it active)."""
    with db.transaction(read_only=True) as session:
        row = repository.get_participant(session, participant_id(participant))
        if row.status != "admitted" or not row.membership_credential:
            raise Conflict(
                f"{row.id} is {row.status}, so it holds no valid membership credential; the "
                "operator admits (or reinstates) it first."
            )
        return {**row.membership_credential, "status": row.status}


def _check_custody(custody: str) -> None:
    if custody == "connector":
        return
    if custody.startswith("hosted:") and len(custody) <= MAX_CUSTODY:
        try:
            validate_slug(custody.removeprefix("hosted:"), "hosting service")
        except InvalidInput:
            pass
        else:
            return
    raise InvalidInput(
        f"The custody {custody!r} is neither 'connector' nor 'hosted:<hosting service>'; say "
        "who holds the key."
    )


def load_public_key_b64(value: str) -> str:
    """``value`` if it is a base64url Ed25519 public key, else one sentence."""
    try:
        load_public_key(value)
    except (DataspaceError, ValueError) as exc:
        raise InvalidInput(
            "The public key is not a base64url Ed25519 public key (32 bytes); send the key "
            "your connector made."
        ) from exc
    return value


def admit(
    db: Database,
    keys: KeyStore,
    participant: str,
    *,
    now: datetime | None = None,
    term: timedelta = MEMBERSHIP_TERM,
) -> ParticipantView:
    """The operator admits a pending participant by signing its membership credential."""
    now = now or utcnow()
    with db.transaction() as session:
        row = repository.get_participant(session, participant_id(participant), for_update=True)
        if row.status == "admitted":
            return view_of(row)
        if row.status == "suspended":
            raise Conflict(
                f"The participant {row.id!r} is suspended; reinstate it with "
                f"`dataspace participant reinstate {row.id}` instead of admitting it again."
            )
        operator_key = operator_signing_key(session, keys)
        credential = issue_membership(
            registration_of(row),
            row.public_key,
            issued_at=now,
            valid_until=now + term,
            operator=OPERATOR_ID,
            operator_key=operator_key,
        )
        row.status, row.admitted_at = "admitted", now
        row.membership_credential = credential_json(credential)
        facts = {"credential": row.membership_credential}
        change = Change(
            OPERATOR_ID,
            "participant.admitted",
            (row.id,),
            facts,
            about=row.id,
            event="ParticipantAdmitted",
            event_body=admitted_body(row),
        )
        record(session, operator_key, change, now)
        return view_of(row)


def suspend(
    db: Database, keys: KeyStore, participant: str, *, now: datetime | None = None
) -> ParticipantView:
    """The operator suspends an admitted participant; suspending twice is a no-op."""
    return _set_status(db, keys, participant, "suspended", now or utcnow())


def reinstate(
    db: Database, keys: KeyStore, participant: str, *, now: datetime | None = None
) -> ParticipantView:
    """The operator lifts a suspension; reinstating an admitted participant is a no-op."""
    return _set_status(db, keys, participant, "admitted", now or utcnow())


def list_participants(db: Database) -> list[ParticipantView]:
    """Every registered participant, by id (the registry is public within the data space)."""
    with db.transaction() as session:
        rows = session.scalars(select(ParticipantRow).order_by(ParticipantRow.id)).all()
        return [view_of(row) for row in rows]


def show_participant(db: Database, participant: str) -> ParticipantView:
    with db.transaction() as session:
        return view_of(repository.get_participant(session, participant_id(participant)))


def authenticate(db: Database, keys: KeyStore, participant: str) -> ParticipantView:
    """Prove that this node holds ``participant``'s key (what ``--as`` means locally)."""
    with db.transaction() as session:
        row = repository.get_participant(session, participant_id(participant))
        keys.signing_key(row.id, row.public_key)
        return view_of(row)


# -- used by the other services ------------------------------------------------------------


def require_active(session: Session, participant: str, now: datetime, doing: str) -> ParticipantRow:
    """The participant's row if it is admitted with a valid credential; else Unauthorized."""
    row = repository.get_participant(session, participant_id(participant))
    if row.status != "admitted" or row.membership_credential is None:
        state = "suspended" if row.status == "suspended" else "not admitted"
        raise Unauthorized(
            f"The participant {row.id!r} is {state}, so it cannot {doing}; "
            "ask the data-space operator to admit or reinstate it."
        )
    operator = _operator_row(session)
    try:
        verify_membership(credential_of(row), operator.public_key, now)
    except (Unauthorized, InvalidInput, KeyError) as exc:
        raise Unauthorized(
            f"The membership credential of {row.id!r} does not verify or has expired, so it "
            f"cannot {doing}; ask the data-space operator to admit it again."
        ) from exc
    return row


def operator_signing_key(session: Session, keys: KeyStore) -> SigningKey:
    """The operator's key from this node's key store, checked against the registry."""
    return keys.signing_key(OPERATOR_ID, _operator_row(session).public_key)


def party_signing_key(session: Session, keys: KeyStore, participant: str) -> Signer:
    """What records ``participant``'s act: its key when this node holds it (development
    mode), else the hub attesting the participant's own signed request in hand
    (:mod:`dataspace.controlplane.acting`); Unauthorized when there is neither."""
    row = repository.get_participant(session, participant_id(participant))
    if keys.has(row.id):
        return keys.signing_key(row.id, row.public_key)
    in_hand = act_of(row.id)
    if in_hand is None:
        raise Unauthorized(
            f"The key of {row.id!r} is not on this node and this is not its own signed "
            f"request; {row.id} acts from its own connector."
        )
    return Attested(row.id, OPERATOR_ID, operator_signing_key(session, keys), in_hand)


def local_signing_key(session: Session, keys: KeyStore, participant: str) -> SigningKey:
    """A participant's key from this node's key store, checked against the registry."""
    row = repository.get_participant(session, participant_id(participant))
    return keys.signing_key(row.id, row.public_key)


def registration_of(row: ParticipantRow) -> Registration:
    roles = frozenset(Role(role) for role in row.roles)
    return Registration(
        row.id, row.name, row.uscc, roles, row.region, frozenset(row.industry_chains)
    )


def credential_json(credential: MembershipCredential) -> dict[str, Any]:
    """What is stored: the signed payload's fields plus the signature."""
    return {**json.loads(credential.payload), "signature": credential.signature}


def credential_of(row: ParticipantRow) -> MembershipCredential:
    """The stored credential over the row's *current* facts: a changed row no longer verifies."""
    stored = row.membership_credential or {}
    return MembershipCredential(
        registration=registration_of(row),
        public_key=row.public_key,
        issued_at=datetime.fromisoformat(stored["issuedAt"]),
        valid_until=datetime.fromisoformat(stored["validUntil"]),
        operator=stored["operator"],
        signature=stored["signature"],
    )


def view_of(row: ParticipantRow) -> ParticipantView:
    credential = row.membership_credential or {}
    until = credential.get("validUntil")
    return ParticipantView(
        participant_id=row.id,
        name=row.name,
        uscc=row.uscc,
        roles=tuple(sorted(row.roles)),
        region=row.region,
        industry_chains=tuple(sorted(row.industry_chains)),
        status=row.status,
        public_key=row.public_key,
        admitted_at=row.admitted_at,
        suspended_at=row.suspended_at,
        membership_valid_until=datetime.fromisoformat(until) if until else None,
        custody=row.custody or "node",
        endpoint=row.endpoint,
    )


# -- internals ------------------------------------------------------------------------------


def _create(
    db: Database, keys: KeyStore, registration: Registration, now: datetime, *, admit_self: bool
) -> ParticipantView:
    """Insert the row, record the change and write the key file, all or nothing."""
    key: SigningKey | None = None
    try:
        with db.transaction() as session:
            _refuse_duplicate(session, registration)
            key = keys.create(registration.participant_id)
            row = _new_row(registration, key, now)
            session.add(row)
            session.flush()
            action = "participant.registered"
            if admit_self:
                _self_admit(row, key, now)
                action = "operator.initialized"
            facts = {"registration": membership_facts(row), "publicKey": row.public_key}
            change = Change(row.id, action, (row.id,), facts)
            if admit_self:
                change = replace(
                    change, about=row.id, event="ParticipantAdmitted", event_body=admitted_body(row)
                )
            record(session, key, change, now)
            return view_of(row)
    except BaseException:
        if key is not None:  # the row was not committed: its key must not stay behind
            keys.discard(registration.participant_id)
        raise


def _refuse_duplicate(session: Session, registration: Registration) -> None:
    if session.get(ParticipantRow, registration.participant_id) is not None:
        raise Conflict(
            f"A participant with the id {registration.participant_id!r} is already registered; "
            "choose another id with --id."
        )
    holder = repository.find_participant_by_uscc(session, registration.uscc)
    if holder is not None:
        raise Conflict(
            f"The credit code {registration.uscc} is already registered as {holder.id!r}; "
            "an enterprise registers once."
        )


def _new_row(registration: Registration, key: SigningKey, now: datetime) -> ParticipantRow:
    return ParticipantRow(
        id=registration.participant_id,
        name=registration.name,
        uscc=registration.uscc,
        roles=sorted(role.value for role in registration.roles),
        region=registration.region,
        industry_chains=sorted(registration.industry_chains),
        public_key=key.public_key_b64,
        status="pending",
        created_at=now,
        updated_at=now,
    )


def _self_admit(row: ParticipantRow, key: SigningKey, now: datetime) -> None:
    credential = issue_membership(
        registration_of(row),
        row.public_key,
        issued_at=now,
        valid_until=now + MEMBERSHIP_TERM * 10,
        operator=OPERATOR_ID,
        operator_key=key,
    )
    row.status, row.admitted_at = "admitted", now
    row.membership_credential = credential_json(credential)


def admitted_body(row: ParticipantRow) -> dict[str, Any]:
    """The ParticipantAdmitted event: public facts and the public key, no credential."""
    return {
        "participant_id": row.id,
        "uscc": row.uscc,
        "roles": sorted(row.roles),
        "region": row.region,
        "public_key": row.public_key,
    }


def membership_facts(row: ParticipantRow) -> dict[str, Any]:
    return {
        "participantId": row.id,
        "name": row.name,
        "uscc": row.uscc,
        "roles": sorted(row.roles),
        "region": row.region,
        "industryChains": sorted(row.industry_chains),
    }


def _same_operator(row: ParticipantRow, registration: Registration) -> None:
    if row.uscc != registration.uscc or row.name != registration.name:
        raise Conflict(
            f"The operator is already set up as {row.name!r} ({row.uscc}); "
            "an operator is initialised once."
        )


def _operator_row(session: Session) -> ParticipantRow:
    row = session.get(ParticipantRow, OPERATOR_ID)
    if row is None:
        raise NotFound(NOT_INITIALIZED)
    return row


_STATUS_CHANGE: dict[str, tuple[str, str, Callable[[ParticipantRow, datetime], None]]] = {
    # target: (required current status, ledger action, how the row changes)
    "suspended": ("admitted", "participant.suspended", lambda r, t: setattr(r, "suspended_at", t)),
    "admitted": (
        "suspended",
        "participant.reinstated",
        lambda r, t: setattr(r, "suspended_at", None),
    ),
}


def _status_event(row: ParticipantRow) -> tuple[str, dict[str, Any]]:
    """A reinstated participant's signatures count again: announced as an admission."""
    if row.status == "suspended":
        reason = "suspended by the data-space operator"
        return "ParticipantSuspended", {"participant_id": row.id, "reason": reason}
    return "ParticipantAdmitted", admitted_body(row)


def _set_status(
    db: Database, keys: KeyStore, participant: str, target: str, now: datetime
) -> ParticipantView:
    required, action, stamp = _STATUS_CHANGE[target]
    with db.transaction() as session:
        row = repository.get_participant(session, participant_id(participant), for_update=True)
        if row.id == OPERATOR_ID:
            raise InvalidInput("The data-space operator cannot suspend or reinstate itself.")
        if row.status == target:
            return view_of(row)
        if row.status != required:
            raise Conflict(
                f"The participant {row.id!r} is {row.status}, not {required}; "
                f"admit it first with `dataspace participant admit {row.id}`."
            )
        operator_key = operator_signing_key(session, keys)
        row.status = target
        stamp(row, now)
        event, body = _status_event(row)
        facts = {"status": target}
        change = Change(OPERATOR_ID, action, (row.id,), facts, row.id, event, body)
        record(session, operator_key, change, now)
        return view_of(row)
