"""How the project's errors answer over HTTP: one status per kind of error, one body.

Every HTTP app of the product (the hub's API, a provider connector's grant service) answers a
:class:`~dataspace.errors.DataspaceError` with ``{"error": kind, "message": one sentence}``
and the status its kind maps to here (the nearest kind in the error's class hierarchy).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse

from dataspace.errors import (
    Conflict,
    DataspaceError,
    InvalidInput,
    NotFound,
    ServiceError,
    Unauthorized,
)

STATUS_OF: dict[type[DataspaceError], int] = {
    InvalidInput: 400,
    Unauthorized: 403,  # the caller is authenticated (auth.py answers 401 itself)
    NotFound: 404,
    Conflict: 409,
    ServiceError: 503,
}
DEFAULT_STATUS = 400


def status_of(error: DataspaceError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return DEFAULT_STATUS


def error_response(error: DataspaceError, status_code: int | None = None) -> JSONResponse:
    """The error's body, with its own status unless ``status_code`` says otherwise."""
    code = status_of(error) if status_code is None else status_code
    return json_error(code, type(error).__name__, str(error))


def json_error(
    status_code: int, kind: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one error body of the project's HTTP apps: ``{"error": kind, "message": ...}``."""
    return JSONResponse({"error": kind, "message": message}, status_code, headers=headers)
