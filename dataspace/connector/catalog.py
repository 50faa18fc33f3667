"""A provider's connector registers its products and offers with the hub's directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataspace.connector.state import Connector
from dataspace.errors import InvalidInput


def register_product(connector: Connector, product: dict[str, Any]) -> dict[str, Any]:
    """Send the product (fields of ``POST /products``) as this provider's signed act."""
    result: dict[str, Any] = connector.hub.post("/products", product)
    return result


def browse(
    connector: Connector,
    *,
    owner: str | None = None,
    chain: str | None = None,
    text: str | None = None,
) -> list[dict[str, Any]]:
    """The hub's directory of products, filtered as ``GET /products`` filters it."""
    given = {"owner": owner, "chain": chain, "q": text}
    params = {name: value for name, value in given.items() if value is not None}
    result: list[dict[str, Any]] = connector.hub.get("/products", params=params)
    return result


def read_offer(path: Path) -> dict[str, Any]:
    """An ODRL offer from a JSON file, checked here before it is sent."""
    from dataspace.cli.wiring import read_policy  # noqa: PLC0415 (one way to read a policy file)
    from dataspace.policy.model import policy_to_json  # noqa: PLC0415

    if not path.is_file():
        raise InvalidInput(f"The offer file {path} does not exist; write the policy there first.")
    return policy_to_json(read_policy(path))
