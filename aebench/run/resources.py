"""Per-run resource measurements: peak resident memory of this process.

On Linux the kernel's high-water mark (VmHWM) can be reset by writing 5 to
/proc/self/clear_refs, so each run's peak is its own, not the process's lifetime peak.
Elsewhere the lifetime peak from getrusage is reported and the record says so.
"""

from __future__ import annotations

import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def reset_peak_rss() -> str:
    """Reset the peak; return how the peak will be measured ("per-run" or "process lifetime")."""
    try:
        _CLEAR.write_text("5")
        return "per-run"
    except OSError:
        return "process lifetime"


def peak_rss_mb() -> float:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
