"""Peak resident memory of this process during a block of code (Linux ``/proc``).

A hostile-input test asserts a generous bound ("grows by less than 100 MiB"): a security
property, not a benchmark. The peak is read two ways and the larger wins: the kernel's
high-water mark ``VmHWM`` after resetting it (``/proc/self/clear_refs``; not every kernel or
sandbox allows that), and a thread that samples ``VmRSS`` every millisecond (zlib releases the
GIL while it inflates, so the sampler runs even while the event loop is stuck in a decoder).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.prerequisites import unavailable

_STATUS = Path("/proc/self/status")


def _kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), flags=re.MULTILINE)
    assert match, f"{field} not in /proc/self/status"
    return int(match.group(1))


def _reset_high_water_mark() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class PeakGrowth:
    start_kib: int
    peak_kib: int = 0

    @property
    def mib(self) -> float:
        """How far resident memory rose above where it started, at its highest, in MiB."""
        return max(0, self.peak_kib - self.start_kib) / 1024


@contextmanager
def peak_rss_growth() -> Iterator[PeakGrowth]:
    if not _STATUS.exists():
        unavailable("measuring memory needs Linux /proc/self/status")
    growth = PeakGrowth(start_kib=_kib("VmRSS"))
    high_water_mark = _reset_high_water_mark()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            growth.peak_kib = max(growth.peak_kib, _kib("VmRSS"))
            stop.wait(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield growth
    finally:
        stop.set()
        sampler.join()
        growth.peak_kib = max(growth.peak_kib, _kib("VmRSS"))
        if high_water_mark:
            growth.peak_kib = max(growth.peak_kib, _kib("VmHWM"))
