"""The Great Expectations adapter: run a list of expectations on one pandas chunk.

GX is imported lazily (it takes seconds) and configured without analytics, without progress
bars and with its loggers at WARNING. One :class:`GxRunner` holds one ephemeral context and one
validation definition, built once and run on many chunks; :func:`runner_for` keeps one per
suite for the life of the process (a publisher that publishes again does not build its context
again). A runner serializes its runs with a lock, so sharing one between threads is safe.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from dataspace.errors import InvalidInput

# GX logs some 200 lines at INFO (and thousands at DEBUG) about registering its renderers,
# expectations and data sources each time a process imports it and builds a context: noise in
# every task log. Its warnings and errors still show.
GX_LOGGER = "great_expectations"


def _import_gx() -> Any:
    gx_log = logging.getLogger(GX_LOGGER)
    if gx_log.level == logging.NOTSET:  # a level the user set on purpose stays
        gx_log.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # GX 1.24 imports the deprecated sre_constants/sre_parse modules (Python 3.11);
        # harmless, and out of our hands until GX drops them.
        warnings.filterwarnings(
            "ignore",
            message=r"module 'sre_(constants|parse)' is deprecated",
            category=DeprecationWarning,
        )
        import great_expectations as gx  # noqa: PLC0415

    return gx


def check_expectations(name: str, expectations: Sequence[Mapping[str, Any]]) -> None:
    """Raise InvalidInput when GX rejects an expectation's type or arguments."""
    gx = _import_gx()
    from great_expectations.core import ExpectationSuite  # noqa: PLC0415

    try:
        ExpectationSuite(name=name, expectations=[dict(item) for item in expectations])
    except (gx.exceptions.GreatExpectationsError, ValueError) as exc:
        raise InvalidInput(f"The expectation suite {name} is not valid: {exc}") from exc


class GxRunner:
    """Runs ``expectations`` (GX 1.x JSON form) on pandas chunks; results in the same order."""

    def __init__(self, name: str, expectations: Sequence[Mapping[str, Any]]) -> None:
        gx = _import_gx()
        from great_expectations.core import ExpectationSuite  # noqa: PLC0415
        from great_expectations.data_context.types.base import (  # noqa: PLC0415
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        suite = context.suites.add(
            ExpectationSuite(name=name, expectations=[dict(item) for item in expectations])
        )
        self._ids = [expectation.id for expectation in suite.expectations]
        asset = context.data_sources.add_pandas("release").add_dataframe_asset("chunk")
        batch = asset.add_batch_definition_whole_dataframe("whole")
        self._definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{name}-chunks", data=batch, suite=suite)
        )
        self.version = gx.__version__
        self._lock = threading.Lock()

    def run(self, frame: Any) -> list[dict[str, Any]]:
        """One JSON-ready result per expectation: ``success``, ``result``, ``exception``."""
        with self._lock:
            outcome = self._definition.run(
                batch_parameters={"dataframe": frame}, result_format="BASIC"
            )
        by_id = {item.expectation_config.id: item.to_json_dict() for item in outcome.results}
        return [by_id[expectation_id] for expectation_id in self._ids]


def runner_for(name: str, expectations: Sequence[Mapping[str, Any]]) -> GxRunner:
    """The process's runner of these expectations (built on first use)."""
    return _cached_runner(name, json.dumps(list(expectations), sort_keys=True, default=str))


@lru_cache(maxsize=32)
def _cached_runner(name: str, expectations_json: str) -> GxRunner:
    return GxRunner(name, json.loads(expectations_json))
