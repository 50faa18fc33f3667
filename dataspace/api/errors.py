"""Every error the management API answers is ``{"error": kind, "message": one sentence}``.

:func:`install` wires it into an app: our own errors (:class:`DataspaceError`, with the
statuses of :mod:`dataspace.api.statuses`), FastAPI's and Starlette's (401 with
``WWW-Authenticate`` kept, 403, a path nothing serves 404, 405 with ``Allow`` naming every
method of the path, a body that cannot be read), a request the schema refuses (422, naming
the field), the limits of :mod:`dataspace.api.limits` (413, 431), and anything unexpected
(500 with a generic sentence; the traceback goes to the server's log, never to the caller).

It also makes the OpenAPI document say so: every operation lists each error status it can
answer with the ``Error`` body (see :func:`error_statuses`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from dataspace.api.limits import RequestLimits
from dataspace.api.statuses import error_response, json_error
from dataspace.errors import DataspaceError

log = logging.getLogger(__name__)

# The kind of error each status means when nothing more specific names it.
KIND_OF_STATUS = {
    400: "InvalidInput",
    401: "Unauthenticated",
    403: "Unauthorized",  # as a DataspaceError Unauthorized answers (statuses.py)
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "TooLarge",
    422: "InvalidInput",
    431: "HeadersTooLarge",
    503: "ServiceError",
}
WRITE_METHODS = frozenset({"post", "put", "patch"})
# FastAPI's detail for a body it cannot decode (not UTF-8, nested too deep): not a sentence.
UNREADABLE_BODY = "There was an error parsing the body"


class Error(BaseModel):
    """The body of every error answer."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="The kind of error, e.g. NotFound or InvalidInput.")
    message: str = Field(description="One sentence: what is wrong, and what to do.")


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` in the one format, and document it in its OpenAPI."""
    app.add_middleware(RequestLimits)
    app.add_exception_handler(DataspaceError, _dataspace_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    app.openapi = _documented(app.openapi)  # type: ignore[method-assign]


def _dataspace_error(_request: Request, error: DataspaceError) -> JSONResponse:
    return error_response(error)


def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    code = error.status_code
    headers = dict(error.headers or {})
    if code == status.HTTP_405_METHOD_NOT_ALLOWED:
        headers["Allow"] = ", ".join(_methods_of(request))
    message = error.detail
    if not isinstance(message, str) or message in (HTTPStatus(code).phrase, UNREADABLE_BODY):
        message = _sentence_for(code, request, headers.get("Allow", ""))
    return json_error(code, KIND_OF_STATUS.get(code, HTTPStatus(code).phrase), message, headers)


def _sentence_for(code: int, request: Request, allowed: str) -> str:
    if code == status.HTTP_404_NOT_FOUND:
        return f"Nothing is served at {request.url.path}; the API's paths are listed at /docs."
    if code == status.HTTP_405_METHOD_NOT_ALLOWED:
        return f"{request.method} is not allowed on {request.url.path}; use {allowed}."
    if code == status.HTTP_400_BAD_REQUEST:
        return (
            "The request body could not be read; send JSON in UTF-8, nested at most a few levels."
        )
    return f"{HTTPStatus(code).phrase}."


def _methods_of(request: Request) -> list[str]:
    """Every method served at the path template that refused the request (Starlette's own 405
    names the methods of one route, though GET and POST of a path are two routes)."""
    matching = [
        route
        for route in request.app.router.routes
        if route.matches(request.scope)[0] != Match.NONE
    ]
    template = getattr(matching[0], "path", None) if matching else None
    methods: set[str] = set()
    for route in matching:
        if getattr(route, "path", None) == template:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "json_invalid":
        reason = first.get("ctx", {}).get("error", "JSON decode error")
        message = f"The body is not JSON ({reason}); send a JSON object."
    elif first["type"] == "extra_forbidden":
        message = f"{where} is not a field of this request; remove it (the fields are at /docs)."
    else:
        message = f"{where}: {first['msg']}."
    return json_error(422, "InvalidInput", message)


def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=error)
    return json_error(
        500,
        "InternalError",
        "The hub failed to answer this request; its operator finds the cause in the hub's log.",
    )


# -- OpenAPI --------------------------------------------------------------------------------


def error_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation can answer, from what its OpenAPI says it takes."""
    codes = {431}  # every request passes the header limits (limits.py)
    if operation.get("security"):
        # An authenticated caller reaches a service: its errors (statuses.py) and 401.
        codes |= {400, 401, 403, 404, 409, 503}
    if method in WRITE_METHODS:
        codes |= {400, 413}  # a body that cannot be read, or is too large
    if operation.get("parameters") or operation.get("requestBody"):
        codes.add(422)
    return sorted(codes)


def _documented(openapi: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def documented() -> dict[str, Any]:
        schema = openapi()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "Error" in components:
            return schema  # documented once; FastAPI caches the schema
        components.pop("HTTPValidationError", None)  # 422 answers an Error instead
        components.pop("ValidationError", None)
        components["Error"] = Error.model_json_schema()
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                _document_errors(method, operation)
        return schema

    return documented


def _document_errors(method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for code in error_statuses(method, operation):
        responses[str(code)] = {
            "description": HTTPStatus(code).phrase,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
