"""What a participant that is not admitted may still ask of the hub: its own record.

A participant is *admitted* once the operator signed its membership. Before that (pending:
registered, not admitted yet) and while it is suspended, it may read only its own registry
record and its own membership credential (a connector polls them to learn that it was
admitted or reinstated); every other request, read or write, is refused with one sentence
naming its status and what to do. Nothing else is needed to be admitted or reinstated: the
operator does that. Refusals of this kind are the same for every route, so a connector that
learns of one knows its own standing changed, not the thing it asked about.
"""

from __future__ import annotations

from dataspace.errors import Unauthorized

ADMITTED = "admitted"


def refusal(participant: str, status: str) -> Unauthorized | None:
    """The error for a request by ``participant`` in ``status``, or None if it may go on."""
    if status == ADMITTED:
        return None
    own = f"GET /participants/{participant}"
    if status == "suspended":
        return Unauthorized(
            f"{participant} is suspended by the data-space operator, so the hub answers only "
            f"its own record ({own}); ask the operator to reinstate it."
        )
    return Unauthorized(
        f"{participant} is registered but not admitted yet ({status}), so the hub answers only "
        f"its own record ({own}); ask the operator to admit it."
    )


def require_standing(participant: str, status: str, *, reading: str | None = None) -> None:
    """Refuse a participant that is not admitted, unless it reads its own record
    (``reading`` names the participant whose record or credential is asked for)."""
    if reading == participant:
        return
    error = refusal(participant, status)
    if error is not None:
        raise error
