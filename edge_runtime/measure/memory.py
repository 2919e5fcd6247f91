"""Peak memory of loading and running one model, without a subprocess per row.

Linux keeps a process's peak resident set (VmHWM) and lets the process reset it to the current
RSS by writing ``5`` to ``/proc/self/clear_refs``; the peak reached inside a block minus the RSS
at its start is what that block needed at most. Elsewhere the figure is reported as unknown.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class PeakMemory:
    """Filled in when the ``with`` block ends; None where the OS does not tell."""

    delta_mb: float | None = None


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@contextmanager
def peak_rss_delta() -> Iterator[PeakMemory]:
    """Measure how far the peak RSS rose above the RSS at the start of the block, in MB."""
    result = PeakMemory()
    usable = _reset_peak()
    before = _status_kb("VmRSS")
    yield result
    peak = _status_kb("VmHWM")
    if usable and before is not None and peak is not None:
        result.delta_mb = round(max(peak - before, 0) / 1024, 1)
