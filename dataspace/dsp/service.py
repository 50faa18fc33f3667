"""A connector's service: grants, and the Dataspace Protocol with its worker running."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from dataspace.connector.grants import create_grant_app
from dataspace.connector.state import Connector
from dataspace.dsp import http
from dataspace.dsp.client import DspClient
from dataspace.dsp.trace import MessageLog
from dataspace.dsp.worker import DspWorker


@contextmanager
def connector_service(connector: Connector) -> Iterator[FastAPI]:
    """The app ``connector serve`` runs; the protocol worker runs while the block does."""
    log = MessageLog(connector.directory / "logs")
    client = DspClient(connector.participant, connector.key, log=log)
    worker = DspWorker(connector, client)
    app = create_grant_app(connector)
    app.title = f"{connector.participant}'s connector: grants and the Dataspace Protocol"
    http.mount(app, connector, worker, log)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="dsp-worker", daemon=True)
    thread.start()
    try:
        yield app
    finally:
        stop.set()
        worker.nudge()
        thread.join(timeout=10)
        client.close()
