"""The stack the integration tests talk to.

By default the test session starts its own embedded stack (Tansu + Swift) in a temporary
state directory on free ports, and stops it at the end, so `make test` leaves nothing
running. To test against a production-like stack instead, set DATASPACE_KAFKA_BOOTSTRAP_SERVERS
and DATASPACE_S3_ENDPOINT (+ keys) before running pytest: nothing is started then.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataspace.config import Settings, load_settings
from infra.stack import Stack
from tests.helpers import free_port, free_port_block


def embedded_settings(state_dir: Path) -> Settings:
    return load_settings(
        state_dir=state_dir,
        kafka_port=free_port(),
        s3_port=free_port_block(4),
    )


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = embedded_settings(tmp_path_factory.mktemp("stack"))
    if not (settings.kafka_embedded or settings.s3_embedded):
        yield settings
        return
    stack = Stack(settings)
    try:
        stack.up()
        yield settings
    finally:
        stack.down()


@pytest.fixture
def unique() -> str:
    """A short unique suffix, so each test has its own topic, group and bucket."""
    return uuid.uuid4().hex[:10]
