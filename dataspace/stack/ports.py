"""Free loopback ports, for stacks started beside another (tests, benchmarks).

Ports are taken from below the kernel's ephemeral range: a client that keeps reconnecting to
a dead service on an ephemeral-range port can be handed that very port as its own local port
(a TCP self-connect), which then looks like a service listening there.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

ATTEMPTS = 500
LOWEST = 10_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_START = 32_768


def is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_start() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_START


def free_port_block(size: int) -> int:
    """The first of ``size`` consecutive free ports below the ephemeral range."""
    highest = max(_ephemeral_start(), LOWEST + 1000) - size
    chooser = random.SystemRandom()
    for _ in range(ATTEMPTS):
        base = chooser.randrange(LOWEST, highest)
        if all(is_free(base + i) for i in range(size)):
            return base
    raise RuntimeError(f"no block of {size} free ports found on 127.0.0.1")


def free_port() -> int:
    return free_port_block(1)
