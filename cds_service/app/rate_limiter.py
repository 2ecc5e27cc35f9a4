"""Per-client rate limiting: an in-memory token bucket per client, answered with 429.

Also the address a caller is counted under before it is authenticated (``peer_key``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

from cds_service.errors import RateLimited
from cds_service.lifecycle import AsyncResource, Resource

#: Buckets kept before idle (full) ones are dropped; bounds memory under a flood of addresses.
_MAX_BUCKETS = 10_000


class ClientLimiter(Resource, Protocol):
    """What the endpoints spend a client's token on: in memory, or shared through Redis.

    An async context manager (``AsyncResource``): the lifespan enters it, and leaving releases
    what it holds (the shared limiter's Redis connections).
    """

    async def admit(self, client: str) -> None:
        """Spend one of ``client``'s tokens, or raise ``RateLimited``."""
        ...


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter(AsyncResource):
    """``per_minute`` calls per client on average, up to ``burst`` at once.

    ``refusal`` is what it raises (``RateLimited``, or a subtype whose kind tells this limiter's
    refusals apart in logs and the audit trail).
    """

    def __init__(
        self,
        per_minute: int,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        refusal: type[RateLimited] = RateLimited,
    ) -> None:
        self._refusal_type = refusal
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, client: str) -> None:
        """Spend one token of ``client``'s bucket, or raise ``RateLimited``."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._forget_idle(now)
            bucket = self._buckets[client] = _Bucket(self._burst, now)
        else:
            bucket.tokens = self._refilled(bucket, now)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        raise self._refusal(bucket)

    async def admit(self, client: str) -> None:
        """``acquire``, as the endpoints call every limiter (the shared one awaits Redis)."""
        self.acquire(client)

    async def aclose(self) -> None:
        """Nothing to release (the shared limiter closes its Redis connections)."""

    def check(self, client: str) -> None:
        """Raise ``RateLimited`` if ``client`` has no token left, without spending one."""
        bucket = self._buckets.get(client)
        if bucket is not None and self._refilled(bucket, self._clock()) < 1.0:
            raise self._refusal(bucket)

    def spend(self, client: str) -> None:
        """Take a token from ``client``'s bucket if it has one; never raises."""
        with contextlib.suppress(RateLimited):
            self.acquire(client)

    def _refusal(self, bucket: _Bucket) -> RateLimited:
        tokens = self._refilled(bucket, self._clock())
        return self._refusal_type(max(1, math.ceil((1.0 - tokens) / self._rate)))

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        return min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)

    def _forget_idle(self, now: float) -> None:
        # A full bucket is indistinguishable from a new one, so dropping it changes nothing.
        idle = [k for k, b in self._buckets.items() if self._refilled(b, now) >= self._burst]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= _MAX_BUCKETS:
            # Still full of active clients: drop the longest idle rather than grow without bound.
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]


def peer_key(request: Request) -> str:
    """The bucket of a caller known only by its address (as uvicorn reports it).

    IPv6 callers count per /64: one host is routinely given a whole /64, and counting each of
    its 2^64 addresses apart would hand it a fresh bucket per request.
    """
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"peer {host[:64]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"peer {address.ipv4_mapped}"
        return f"peer {ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"peer {address}"
