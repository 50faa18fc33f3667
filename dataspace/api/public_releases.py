"""Desensitization reports of public-data releases, for the product's authority, the
data-space operator and each operator that received the release (anyone else: 403).

JSON by default; the HTML page with ``Accept: text/html`` or ``?format=html``. Wiring only:
the rules are :mod:`dataspace.controlplane.public_releases`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse

from dataspace.api.auth import CallerDep, DatabaseDep
from dataspace.controlplane import public_releases
from dataspace.controlplane.bounds import MAX_VERSION
from dataspace.publishing.desensitization_page import render

router = APIRouter(prefix="/products", tags=["public data"])


@router.get(
    "/{product}/releases/{version}/desensitization-report",
    summary="What desensitization did to a public-data release (JSON, or the HTML page).",
    responses={200: {"content": {"text/html": {}}}},
)
def report(  # noqa: PLR0917 (path, query and header parameters, as FastAPI reads them)
    product: str,
    version: Annotated[int, Path(ge=1, le=MAX_VERSION)],
    who: CallerDep,
    db: DatabaseDep,
    format: Annotated[Literal["json", "html"] | None, Query()] = None,
    accept: Annotated[str, Header()] = "",
) -> Any:
    found = public_releases.report_of(db, who.participant_id, product, version)
    if format == "html" or (format is None and "text/html" in accept):
        page = render(found["report"], report_sha256=found["report_sha256"], version=version)
        return HTMLResponse(page)
    return JSONResponse(found)


@router.get(
    "/{product}/desensitization-reports",
    summary="The released desensitizations of a public-data product the caller may read.",
)
def reports(product: str, who: CallerDep, db: DatabaseDep) -> list[dict[str, Any]]:
    return public_releases.list_reports(db, who.participant_id, product)
