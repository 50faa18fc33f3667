"""Free loopback ports, for stacks started beside another (tests, benchmarks)."""

from __future__ import annotations

import socket

ATTEMPTS = 200


def is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_block(size: int) -> int:
    """The first of ``size`` consecutive free ports (the embedded S3 needs four)."""
    for _ in range(ATTEMPTS):
        base = free_port()
        if base + size < 65535 and all(is_free(base + i) for i in range(size)):  # noqa: PLR2004
            return base
    raise RuntimeError("no block of free ports found on 127.0.0.1")
