"""A connector's cache of participants' public keys (dataspace.connector.grants.PublicKeys)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dataspace.connector.grants import PublicKeys
from dataspace.errors import Unauthorized


class Hub:
    """The hub's registry as a suspended participant meets it: answers, then refuses."""

    def __init__(self) -> None:
        self.suspended = False
        self.asked = 0

    def get(self, path: str) -> dict[str, Any]:
        self.asked += 1
        if self.suspended:
            raise Unauthorized("supplier-31 is suspended; the hub answers only its own record.")
        return {"public_key": f"key-of-{path.rsplit('/', 1)[1]}"}


def test_a_suspended_participant_still_verifies_a_peer_with_the_key_it_was_given() -> None:
    hub = Hub()
    keys = PublicKeys(SimpleNamespace(hub=hub), ttl=0.0)  # type: ignore[arg-type]
    assert keys("xcmg") == "key-of-xcmg"

    hub.suspended = True  # the provider now tells us our transfer is suspended
    assert keys("xcmg") == "key-of-xcmg"
    assert hub.asked == 2  # it did ask: an expired key is looked up again first

    with pytest.raises(Unauthorized, match="suspended"):
        keys("sany")  # never given: nothing to verify with
