"""Serving an HTTP app from a command: one line saying where, one access-log line per request."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from dataspace.access_log import App


MAX_INCOMPLETE_REQUEST = 64 * 1024  # a request line and headers the server reads at most


def access_log_path(state_dir: Path, name: str) -> Path:
    """``<state>/logs/<name>-access.log``: where ``serve`` logs the requests it answered."""
    return state_dir / "logs" / f"{name}-access.log"


def serve_http(app: App, *, what: str, host: str, port: int, access_log: Path) -> None:
    """Serve ``app`` until Ctrl-C; ``what`` names it in the line printed on start."""
    import uvicorn  # noqa: PLC0415 (only the serving commands need it)

    from dataspace.access_log import AccessLogFile, AccessLogMiddleware  # noqa: PLC0415
    from dataspace.background import url_of  # noqa: PLC0415

    with AccessLogFile(access_log) as log:
        typer.echo(
            f"Serving {what} on {url_of(host, port)} (OpenAPI at /docs); access log: {access_log}",
            err=True,
        )
        # uvicorn's own access log would print each request's full URL, query included.
        # h11, not httptools: httptools reads a header of any size before the app sees it, h11
        # stops reading at MAX_INCOMPLETE_REQUEST (the app refuses past 8 KiB, limits.py).
        uvicorn.run(
            AccessLogMiddleware(app, log.write),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            http="h11",
            h11_max_incomplete_event_size=MAX_INCOMPLETE_REQUEST,
        )
