"""The hub API and public data: a reservation or a manifest for a public-data product without
the authorized-operation path is refused (4xx, one sentence), and the desensitization report
is served (JSON and HTML) to its authority, the operator and the licensed operator only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dataspace.api.app import create_app
from dataspace.config import Settings, load_settings
from dataspace.controlplane import applications
from dataspace.dataplane.layout import release_key, view_key
from tests.fixtures.controlplane import Space
from tests.integration.test_api import auth
from tests.worlds.public_data_world import AUTHORITY
from tests.worlds.public_release_world import (
    LICENSED,
    SUPPLIER,
    UNLICENSED,
    PublicReleaseWorld,
    make_public_release_world,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def world(space: Space, stack_settings: Settings, unique: str) -> PublicReleaseWorld:
    return make_public_release_world(space, stack_settings, unique)


@pytest.fixture
def hub(world: PublicReleaseWorld, database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(state_dir=tmp_path, database_url=database_url)
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_reservation_for_public_data_is_refused_in_one_sentence(
    hub: TestClient, world: PublicReleaseWorld
) -> None:
    answer = hub.post("/releases/reservations", json={"product": world.product},
                      headers=auth(world.space, AUTHORITY))  # fmt: skip

    assert answer.status_code == 400
    assert answer.json()["error"] == "Refused"
    assert "only through the authorized-operation path" in answer.json()["message"]


def test_a_manifest_for_public_data_without_a_reservation_records_nothing(
    hub: TestClient, world: PublicReleaseWorld
) -> None:
    agreement = applications.show(world.space.db, world.application).agreement_id
    assert agreement is not None
    stored = {"sha256": "ab" * 32, "rows": 3, "bytes": 100}
    manifest = {
        "product": world.product, "version": 1, "reservation": "none", "mode": "snapshot",
        "status": "accepted", "release": {"key": release_key(world.product, 1), **stored},
        "deliveries": [{"agreementId": agreement, "subscriber": LICENSED,
                        "key": view_key(world.product, 1, agreement), **stored}],
    }  # fmt: skip

    answer = hub.post("/releases", json=manifest, headers=auth(world.space, AUTHORITY))

    assert answer.status_code == 400, answer.text
    assert "only through the authorized-operation path" in answer.json()["message"]
    assert "release.published" not in world.space.actions()


def test_the_report_is_served_to_its_readers_as_json_and_html(
    hub: TestClient, world: PublicReleaseWorld, tmp_path: Path
) -> None:
    path = world.desensitized(tmp_path / "energy.parquet")
    world.publish(path, world.desensitize(path))
    route = f"/products/{world.product}/releases/1/desensitization-report"

    for reader in (AUTHORITY, "operator", LICENSED):
        answer = hub.get(route, headers=auth(world.space, reader))
        assert answer.status_code == 200, answer.text
        assert answer.json()["report"] == world.report(path)
        assert answer.json()["ledger_matches"] is True
        html = hub.get(route, headers={**auth(world.space, reader), "Accept": "text/html"})
        assert html.headers["content-type"].startswith("text/html")
        assert world.product in html.text
        assert hub.get(route + "?format=html", headers=auth(world.space, reader)).text == html.text
    for stranger in (UNLICENSED, SUPPLIER):
        refused = hub.get(route, headers=auth(world.space, stranger))
        assert refused.status_code == 403
        assert refused.json()["error"] == "Unauthorized"
        assert "read its desensitization report" in refused.json()["message"]
    listed = hub.get(f"/products/{world.product}/desensitization-reports",
                     headers=auth(world.space, LICENSED))  # fmt: skip
    assert [item["version"] for item in listed.json()] == [1]
