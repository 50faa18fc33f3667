"""A benchmark process's own peak memory.

Not ``ru_maxrss``: Linux carries a parent's peak RSS into a child's ``ru_maxrss`` across
fork and exec, so a child started by a 500 MB parent reports at least 500 MB whatever it
used. ``VmHWM`` in ``/proc/self/status`` is the peak of this process's own memory map.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started, in MB (kB / 1024)."""
    try:
        status = Path("/proc/self/status").read_text(encoding="utf-8")
    except OSError:  # not Linux: the inflated figure is still an upper bound
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    kilobytes = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")
    )
    return round(kilobytes / 1024, 1)
