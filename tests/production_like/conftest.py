"""The production-like tier: tests against the engines a province would operate (see
:mod:`tests.production_like.engines` for how they are found)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.production_like.engines import engine_env


@pytest.fixture
def production_like() -> Callable[[str], dict[str, str]]:
    """``production_like("kafka")`` → that engine's connection facts."""
    return engine_env
