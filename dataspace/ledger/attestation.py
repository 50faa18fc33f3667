"""What makes a ledger entry the participant's own act, checkable with public keys alone.

An entry is sealed either by its actor (the actor's key signed it: a node that holds that key)
or by the hub recording the actor's act. In the second case the hub cannot have made the act
up: the entry keeps the participant's own signed request (an act token, see
:mod:`dataspace.identity.acts`) and that request's body, and this module checks that

1. the sealer is the operator (the hub), the only party that records others' acts;
2. the act token is signed by the actor's registered key and names the actor;
3. the body kept is the body the actor signed (its SHA-256 is in the token);
4. the request (method and path) is one that may lead to the entry's action, by the table
   :data:`RULES` (the hub's API is the contract: the same table is in the README), and it is
   about the entry's subject: the id in the path, or the named field of the body, is one of
   the entry's subject ids.

Acts that only a participant can do (:data:`PARTY_ACTIONS`: registering, publishing a
product, every negotiation step before the agreement is filed, releasing, receipting) must be
sealed by the actor or attested: the operator can never record one as its own act.

Filing the agreement (:data:`FILED_BY_HUB`) is the one exception, because on the hub it is the
hub's own act: it files an agreement once both parties have signed it. An operator's filing
is legitimate only if the ledger holds, earlier, a ``negotiation.agreed`` and a
``negotiation.verified`` (:data:`PARTY_STEPS`) of the same agreement (the same first subject
id) whose actors are not the operator, and the agreement was not filed or terminated since;
:class:`Filings` checks that, entry by entry. (Which parties took the two steps is not
checked here.) A provider filing the agreement itself (one node holding every key) is checked
like any other party act. So whoever holds the hub's
database and key store can still not add an agreement or a receipt that ``ledger verify``
accepts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dataspace.errors import DataspaceError
from dataspace.identity.acts import Act, body_sha256, recorded_act

if TYPE_CHECKING:
    from dataspace.ledger.chain import LedgerEntry

HUB_SEALER = "operator"


@dataclass(frozen=True)
class Rule:
    """A request that may lead to ``actions``, about the subject in its path or body."""

    method: str
    path: re.Pattern[str]  # a named group ``subject`` when the path names it
    actions: frozenset[str]
    body_subject: str | None = None  # else the JSON body's field naming the subject


_ID = r"(?P<subject>[A-Za-z0-9][A-Za-z0-9._:-]{0,199})"

RULES: tuple[Rule, ...] = (
    Rule(
        "POST", re.compile(r"/participants/registrations"), frozenset({"participant.registered"}),
        "id",
    ),
    Rule("POST", re.compile(r"/products"), frozenset({"product.published"}), "id"),
    Rule("POST", re.compile(r"/agreements"), frozenset({"negotiation.requested"}), "product_id"),
    Rule(
        "POST",
        re.compile(rf"/agreements/{_ID}/accept"),
        frozenset({
            "negotiation.accepted", "negotiation.agreed", "negotiation.verified",
            "agreement.finalized",
        }),
    ),
    Rule(
        "POST",
        re.compile(rf"/agreements/{_ID}/sign"),
        frozenset({"negotiation.agreed", "negotiation.verified"}),
    ),
    Rule("POST", re.compile(rf"/agreements/{_ID}/counter"), frozenset({"negotiation.offered"})),
    Rule(
        "POST",
        re.compile(rf"/agreements/{_ID}/counter-request"),
        frozenset({"negotiation.requested"}),
    ),
    Rule("POST", re.compile(rf"/agreements/{_ID}/reject"), frozenset({"negotiation.terminated"})),
    Rule("POST", re.compile(rf"/agreements/{_ID}/revoke"), frozenset({"agreement.terminated"})),
    Rule(
        "POST",
        re.compile(r"/releases"),
        frozenset({
            "release.published", "release.quarantined", "delivery.announced",
            "agreement.delivery_counted",
        }),
        "product",
    ),
    Rule("POST", re.compile(rf"/deliveries/{_ID}/receipt"), frozenset({"delivery.received"})),
)  # fmt: skip

PARTY_ACTIONS = frozenset({
    "participant.registered", "product.published", "negotiation.requested",
    "negotiation.offered", "negotiation.accepted", "negotiation.agreed",
    "negotiation.verified", "release.published", "release.quarantined",
    "delivery.announced", "delivery.received",
})  # fmt: skip

FILED_BY_HUB = "agreement.finalized"
# What both parties must have done, earlier, before the operator may file their agreement.
PARTY_STEPS = frozenset({"negotiation.agreed", "negotiation.verified"})
# After these nothing more may be filed for the agreement, so its steps are forgotten.
CLOSING_ACTIONS = frozenset({FILED_BY_HUB, "negotiation.terminated", "agreement.terminated"})


def attestation_problem(entry: LedgerEntry, public_key_of: Callable[[str], str]) -> str | None:
    """None if the entry is its actor's act (or the sealer's own), else why it is not.

    The operator filing an agreement depends on earlier entries: :class:`Filings` checks it.
    """
    if entry.signer == entry.actor:
        return _own_act_problem(entry)
    if entry.sealer != HUB_SEALER:
        return f"it is sealed by {entry.sealer!r}, but only the hub records others' acts"
    if not entry.attestation:
        return f"the hub sealed it for {entry.actor!r} without {entry.actor!r}'s signed request"
    try:
        act = recorded_act(entry.attestation, public_key_of(entry.actor))
    except DataspaceError as exc:
        return f"its act is not signed by {entry.actor!r} ({exc})"
    return _act_problem(entry, act)


def _own_act_problem(entry: LedgerEntry) -> str | None:
    if entry.actor == HUB_SEALER and entry.action in PARTY_ACTIONS:
        return f"the operator cannot record {entry.action!r} as its own act"
    if entry.attestation or entry.act_body:
        return "it carries a request but its actor sealed it (only the hub keeps requests)"
    return None


def _act_problem(entry: LedgerEntry, act: Act) -> str | None:
    if act.actor != entry.actor:
        return f"its act names {act.actor!r}, not the actor {entry.actor!r}"
    if body_sha256(entry.act_body.encode("utf-8")) != act.body_sha256:
        return "the request body it keeps is not the one its actor signed"
    for rule in RULES:
        match = rule.path.fullmatch(act.path)
        if rule.method != act.method or match is None or entry.action not in rule.actions:
            continue
        subject = match.group("subject") if rule.body_subject is None else _field(entry, rule)
        if subject in entry.subject_ids:
            return None
    return (
        f"its actor's request ({act.method} {act.path}) does not ask for {entry.action!r} "
        f"on {', '.join(entry.subject_ids) or 'nothing'}"
    )


def _field(entry: LedgerEntry, rule: Rule) -> object:
    try:
        body = json.loads(entry.act_body)
    except ValueError:
        return None
    return body.get(rule.body_subject) if isinstance(body, dict) else None


class Filings:
    """The party steps seen so far, by agreement, to check the operator's filings.

    Feed it every entry in ledger order, each already checked on its own
    (:func:`attestation_problem`). It keeps one small set per agreement that a party has
    agreed or verified but that is not yet filed or terminated, and forgets the agreement when
    it is. So its memory grows with the number of such open agreements (one left open for
    good, never filed nor rejected, stays counted), not with the ledger's length.
    """

    def __init__(self) -> None:
        self._steps: dict[str, dict[str, str]] = {}  # agreement -> {step: its actor}

    def problem(self, entry: LedgerEntry) -> str | None:
        """None if the entry may follow the entries fed so far, else why not; feeds it."""
        agreement = entry.subject_ids[0] if entry.subject_ids else ""
        why = None
        if entry.action == FILED_BY_HUB and entry.actor == HUB_SEALER:
            why = self._filing_problem(agreement)
        if entry.action in CLOSING_ACTIONS:
            self._steps.pop(agreement, None)
        elif entry.action in PARTY_STEPS and entry.actor != HUB_SEALER and agreement:
            self._steps.setdefault(agreement, {})[entry.action] = entry.actor
        return why

    def _filing_problem(self, agreement: str) -> str | None:
        steps = self._steps.get(agreement, {})
        missing = sorted(PARTY_STEPS - set(steps))
        if not missing:
            if len(set(steps.values())) < len(PARTY_STEPS):
                return (
                    f"the operator filed the agreement {agreement!r} on steps that one party "
                    f"({next(iter(steps.values()))!r}) took alone; it needs both parties'"
                )
            return None
        return (
            f"the operator filed the agreement {agreement or '(none named)'!r} but no party's "
            f"{' and '.join(missing)} of it comes before (the hub files an agreement once, "
            "after both)"
        )
