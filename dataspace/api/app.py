"""The management API of the control plane: participants, catalog, negotiations and
agreements, history requests, and the evidence ledger (OpenAPI at /docs and /openapi.json).

Wiring only: every rule lives in :mod:`dataspace.controlplane`. Errors are one sentence in
``{"error": kind, "message": sentence}`` with a 4xx status for the caller's mistakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from dataspace import __version__
from dataspace.api import (
    agreements,
    catalog,
    deliveries,
    history,
    ledger,
    participants,
    releases,
)
from dataspace.api.statuses import error_response
from dataspace.config import Settings
from dataspace.errors import DataspaceError
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
    for module in (participants, catalog, agreements, history, ledger, deliveries, releases):
        app.include_router(module.router)
    app.add_exception_handler(DataspaceError, _dataspace_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]

    @app.get("/health", tags=["service"], summary="Liveness: the API answers.")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _dataspace_error(_request: Request, error: DataspaceError) -> JSONResponse:
    return error_response(error)


def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return JSONResponse(
        {"error": "InvalidInput", "message": f"{where}: {first['msg']}."}, status_code=422
    )
