"""The management API of the control plane: participants, catalog, negotiations and
agreements, history requests, and the evidence ledger (OpenAPI at /docs and /openapi.json).

Wiring only: every rule lives in :mod:`dataspace.controlplane`. Every error is one sentence in
``{"error": kind, "message": sentence}`` with a 4xx status for the caller's mistakes; bodies
are at most 4 MiB and headers 8 KiB each (:mod:`dataspace.api.errors`, :mod:`dataspace.api.limits`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
from dataspace.node import open_node


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_node(settings) as node:
            app.state.node = node  # the routers take the parts they need from it
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
