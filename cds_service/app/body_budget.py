"""How many bytes of request bodies a process holds decoded at once: a bound on its memory.

A decoded FHIR body takes about seven times its size (a dict per object, a string per value:
1 MB of prefetch is ≈7 MB of Python objects), and a call holds it for as long as it runs,
through a FHIR server's answer or a note's fetch: seconds, when that server is slow. 128
connections each sending a 1 MB patient-view whose missing key a server answered in 3 s took
one process from 181 MiB to a peak of 991 MiB (491 MiB under the default budget:
``bench/memory.py``). Under the budget a call waits its turn before its body is decoded; the
bodies themselves, read and waiting, are bytes (``max_connections`` × ``max_body_bytes`` at
most).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math

from cds_service import metrics
from cds_service.errors import Busy


class BodyBudget:
    """At most ``capacity`` bytes of bodies held at once; the rest wait in arrival order.

    A call that cannot have its share within ``wait_seconds`` is refused (``Busy``: 503 with
    ``Retry-After``) and its body is never decoded. A body larger than the whole budget runs
    alone. The budget is one event loop's: every method is called from that loop.
    """

    def __init__(self, capacity: int, wait_seconds: float) -> None:
        self.capacity = capacity
        self.wait_seconds = wait_seconds
        #: Bytes held now by the calls running.
        self.held = 0
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    async def acquire(self, size: int) -> int:
        """Wait for ``size`` bytes (at most the capacity) and return what is held, to release.

        Arrival order is kept: a call never passes one that came before it, so a large body is
        not starved by a stream of small ones.
        """
        share = max(1, min(size, self.capacity))
        if not self._waiting and self.held + share <= self.capacity:
            self.held += share
            return share
        granted = asyncio.get_running_loop().create_future()
        entry = (share, granted)
        self._waiting.append(entry)
        metrics.BODY_BUDGET_WAITS.inc()
        try:
            async with asyncio.timeout(self.wait_seconds):
                await granted
        except BaseException as exc:
            if granted.done() and not granted.cancelled():
                # Granted just as the wait ended (a timeout, or the client gone): give it back.
                self.release(share)
            else:
                # Cancelled with the task (``asyncio.timeout`` cancels it too): off the line.
                self._remove(entry)
                self._grant()  # a large body leaving the head may let smaller ones through
            if isinstance(exc, TimeoutError):
                raise Busy(
                    "Radix already holds as many request bodies as it may at once "
                    "(RADIX_BODIES_IN_FLIGHT_BYTES) and this call's turn did not come in "
                    f"{self.wait_seconds:g} s; retry after {self.retry_after} s.",
                    self.retry_after,
                ) from None
            raise
        return share

    def release(self, share: int) -> None:
        """Give back what ``acquire`` returned, and let the calls waiting in turn run."""
        self.held -= share
        self._grant()

    @property
    def waiting(self) -> int:
        """Calls waiting for their turn now."""
        return len(self._waiting)

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.wait_seconds))

    def _grant(self) -> None:
        while self._waiting:
            share, granted = self._waiting[0]
            if granted.done():
                # Cancelled (the client gone, or its wait ran out) and not yet unwound: its
                # own ``acquire`` takes it off the line later, and must not hold up those behind.
                self._waiting.popleft()
                continue
            if self.held + share > self.capacity:
                return
            self._waiting.popleft()
            self.held += share
            granted.set_result(None)

    def _remove(self, entry: tuple[int, asyncio.Future[None]]) -> None:
        with contextlib.suppress(ValueError):  # already taken off by _grant
            self._waiting.remove(entry)
