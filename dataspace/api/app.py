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
from dataspace.config import Settings
from dataspace.errors import (
    Conflict,
    DataspaceError,
    InvalidInput,
    NotFound,
    ServiceError,
    Unauthorized,
)
from dataspace.node import open_node

STATUS_OF: dict[type[DataspaceError], int] = {
    InvalidInput: 400,
    Unauthorized: 403,  # the caller is authenticated (auth.py answers 401 itself)
    NotFound: 404,
    Conflict: 409,
    ServiceError: 503,
}


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


def _status(error: DataspaceError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 400


def _dataspace_error(_request: Request, error: DataspaceError) -> JSONResponse:
    return JSONResponse(
        {"error": type(error).__name__, "message": str(error)}, status_code=_status(error)
    )


def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return JSONResponse(
        {"error": "InvalidInput", "message": f"{where}: {first['msg']}."}, status_code=422
    )
