"""The management API of the control plane: participants, catalog, negotiations and
agreements, history requests, and the evidence ledger (OpenAPI at /docs and /openapi.json).

Wiring only: every rule lives in :mod:`dataspace.controlplane`. Every error is one sentence in
``{"error": kind, "message": sentence}`` with a 4xx status for the caller's mistakes; bodies
are at most 4 MiB and headers 8 KiB each (:mod:`dataspace.api.errors`, :mod:`dataspace.api.limits`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext

from fastapi import FastAPI

from dataspace import __version__
from dataspace.api import (
    agreements,
    catalog,
    deliveries,
    history,
    ledger,
    participants,
    public_releases,
    releases,
)
from dataspace.api.errors import install as answer_errors_in_one_format
from dataspace.config import Settings
from dataspace.node import Node, open_node

log = logging.getLogger(__name__)


# How often the serving hub looks for events still in its outbox (failed sends wait for their
# retry time, receipts for the next look): the hub is the only writer of events.
RELAY_INTERVAL_SECONDS = 1.0


def create_app(settings: Settings, *, relay_outbox: bool = False) -> FastAPI:
    """The API; with ``relay_outbox`` (``hub serve``) it also relays its outbox in the
    background, so events a request could not send (Kafka down, a broker lost) go out as soon
    as Kafka takes them, not at the next publish."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_node(settings) as node:
            app.state.node = node  # the routers take the parts they need from it
            with _relaying(node) if relay_outbox else nullcontext():
                yield

    app = FastAPI(
        title="Dataspace control plane",
        version=__version__,
        description=__doc__,
        lifespan=lifespan,
    )
    routers = (participants, catalog, agreements, history, ledger, deliveries, releases,
               public_releases)  # fmt: skip
    for module in routers:
        app.include_router(module.router)
    answer_errors_in_one_format(app)

    @app.get("/health", tags=["service"], summary="Liveness: the API answers.")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


@contextmanager
def _relaying(node: Node) -> Iterator[None]:
    stop = threading.Event()

    def relay() -> None:
        while not stop.wait(RELAY_INTERVAL_SECONDS):
            try:
                node.relay_pending()
            except Exception:  # a database hiccup: log it, look again at the next interval
                log.exception("relaying the outbox failed; trying again")

    thread = threading.Thread(target=relay, name="outbox-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
