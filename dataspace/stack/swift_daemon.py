"""Run a Swift daemon with its configuration directory set.

Swift's WSGI servers read ``swift_dir`` from their configuration, but its daemons (the object
expirer) read ``/etc/swift/swift.conf`` unless told otherwise; this launcher tells them.
Usage: ``python -m dataspace.stack.swift_daemon SWIFT_DIR MODULE:FUNCTION CONF [OPTIONS...]``.
"""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> int:
    swift_dir, entry, *daemon_args = argv
    from swift.common.utils import set_swift_dir  # noqa: PLC0415 (heavy: eventlet)

    set_swift_dir(swift_dir)
    module_name, function_name = entry.split(":")
    run = getattr(importlib.import_module(module_name), function_name)
    sys.argv = [f"swift-{function_name}", *daemon_args]
    return int(run() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
