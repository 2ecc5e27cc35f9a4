"""Host name lookups for FHIR servers: a timeout, and a small pool that no one name can fill.

``loop.getaddrinfo`` runs in the event loop's default executor, shared with everything else and
unbounded in time: hook calls naming hosts whose DNS hangs could tie up every thread it has and
stall the FHIR fallback of every other caller. Here lookups run in a pool of their own:

- a caller waits at most ``timeout_seconds``, then the fetch fails ("did not resolve within");
- one host name has at most one lookup running; concurrent callers share it, and a lookup that
  is still stuck when its callers gave up is joined, not repeated;
- names under one parent domain (``*.example.org``) hold at most half the pool, so one domain
  whose name servers hang cannot starve the lookups of others; its further names wait for a
  turn, within the same timeout;
- the threads are daemons: a lookup stuck inside the C library cannot be cancelled, and must not
  hold up the process at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import queue
import socket
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_TURN_POLL_SECONDS = 0.01
#: ``socket.getaddrinfo``'s shape: blocking, ``(host, port) -> [(family, type, proto, name,
#: sockaddr), …]``. Tests inject a slow one.
Lookup = Callable[[str, int], list[tuple[Any, ...]]]


class LookupFailed(Exception):
    """The name did not resolve, or not in time; ``reason`` is safe to log and to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def system_lookup(host: str, port: int) -> list[tuple[Any, ...]]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


@dataclass
class _Pending:
    future: Future[list[IPAddress]]
    zone: str
    waiters: int = 0


class BoundedResolver:
    """``await resolver(host, port)`` → the host's addresses, or ``LookupFailed``."""

    def __init__(
        self, timeout_seconds: float = 2.0, workers: int = 8, lookup: Lookup = system_lookup
    ) -> None:
        self._timeout = timeout_seconds
        self._workers = workers
        self._zone_cap = max(1, workers // 2)
        self._lookup = lookup
        # Re-entrant: cancelling a queued lookup runs its done-callback, which takes the lock.
        self._lock = threading.RLock()
        self._jobs: queue.SimpleQueue[tuple[Future[list[IPAddress]], str, int]] = (
            queue.SimpleQueue()
        )
        self._threads = 0
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._zones: Counter[str] = Counter()

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while (pending := self._join(host.lower(), port)) is None:
            # The domain's share of the pool is busy: wait for a turn within the same timeout.
            if loop.time() >= deadline:
                raise LookupFailed(self._late())
            await asyncio.sleep(_TURN_POLL_SECONDS)
        try:
            return await asyncio.wait_for(_awaitable(pending.future), deadline - loop.time())
        except TimeoutError:
            raise LookupFailed(self._late()) from None
        except LookupFailed:
            raise
        except Exception:  # gaierror, OSError, UnicodeError from IDNA, a cancelled lookup
            raise LookupFailed("the host name does not resolve") from None
        finally:
            self._leave(pending)

    def _late(self) -> str:
        return f"the host name did not resolve within {self._timeout:g} s"

    def _join(self, host: str, port: int) -> _Pending | None:
        """The lookup of ``host`` (started if need be), or None if its domain has no room."""
        key = (host, port)
        with self._lock:
            pending = self._pending.get(key)
            if pending is None:
                zone = _zone(host)
                if self._zones[zone] >= self._zone_cap:
                    return None
                pending = _Pending(Future(), zone)
                self._pending[key] = pending
                self._zones[zone] += 1
                pending.future.add_done_callback(lambda _: self._finished(key, pending))
                self._jobs.put((pending.future, host, port))
                if self._threads < self._workers:
                    self._threads += 1
                    threading.Thread(target=self._work, name="radix-dns", daemon=True).start()
            pending.waiters += 1
            return pending

    def _leave(self, pending: _Pending) -> None:
        with self._lock:
            pending.waiters -= 1
            if pending.waiters == 0:
                # Still queued (every thread busy): drop it. Running: it finishes and is kept
                # as the one lookup of its name until then.
                pending.future.cancel()

    def _finished(self, key: tuple[str, int], pending: _Pending) -> None:
        with self._lock:
            if self._pending.get(key) is pending:
                del self._pending[key]
            self._zones[pending.zone] -= 1
            if self._zones[pending.zone] <= 0:
                del self._zones[pending.zone]

    def _work(self) -> None:
        while True:
            future, host, port = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue  # abandoned while queued
            try:
                infos = self._lookup(host, port)
                future.set_result([ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos])
            except BaseException as exc:  # handed to the waiting coroutine, never lost
                future.set_exception(exc)


def _zone(host: str) -> str:
    """The parent domain a name's lookups are capped under: its last two labels."""
    return ".".join(host.rstrip(".").split(".")[-2:])


def _awaitable(future: Future[list[IPAddress]]) -> asyncio.Future[list[IPAddress]]:
    """An asyncio future for ``future`` that is safe to abandon (its loop may close first)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[list[IPAddress]] = loop.create_future()

    def copy(done: Future[list[IPAddress]]) -> None:
        if waiter.done():
            return
        if done.cancelled():
            waiter.set_exception(LookupFailed("the host name does not resolve"))
        elif (error := done.exception()) is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(done.result())

    def wake(done: Future[list[IPAddress]]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(copy, done)

    future.add_done_callback(wake)
    return waiter


#: For policies built without one (tests, tools); the service builds its own from settings.
DEFAULT_RESOLVER = BoundedResolver()
