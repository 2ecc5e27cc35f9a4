"""Per-client token buckets shared by every replica through Redis, one atomic script per call.

Without sharing, N replicas behind a load balancer grant a client N times its rate. Each call
runs one Lua script: Redis refills the bucket by its own clock (``TIME``, so the replicas'
clocks never matter), takes a token if there is one, and says how long until the next one.

If Redis cannot be reached the limiter falls back to the process's own buckets (fail open to a
local limit, not to no limit): the rate limit protects capacity, and refusing every clinical
call because the limiter's store is down would turn a Redis outage into a Radix outage. Each
replica then still holds each client to the configured rate. Authentication is different: the
``jti`` replay cache fails closed, because a replay let through is a breach.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from cds_service.app.rate_limiter import RateLimiter
from cds_service.errors import RateLimited
from cds_service.lifecycle import AsyncResource

logger = logging.getLogger("radix.app")

#: KEYS[1] the bucket; ARGV[1] tokens per second, ARGV[2] burst. Returns 0 when a token was
#: taken, else the milliseconds until one is available.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
"""

#: After Redis failed, the local buckets are used this long before Redis is tried again, so an
#: unreachable Redis costs one timeout per interval rather than one per call.
_RETRY_SECONDS = 5.0
#: Redis answers in well under a millisecond on a LAN; a slower one is treated as down.
_TIMEOUT_SECONDS = 0.5


class SharedRateLimiter(AsyncResource):
    """``per_minute`` calls per client on average, up to ``burst`` at once, across replicas."""

    def __init__(
        self,
        client: redis.Redis,
        per_minute: int,
        burst: int,
        prefix: str = "radix:rate:",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._script = client.register_script(_TOKEN_BUCKET)
        self._rate = per_minute / 60.0
        self._burst = burst
        self._prefix = prefix
        self._clock = clock
        self._local = RateLimiter(per_minute, burst, clock)
        self._local_until = -math.inf

    @classmethod
    def from_url(cls, url: str, per_minute: int, burst: int, prefix: str) -> SharedRateLimiter:
        client = redis.Redis.from_url(
            url, socket_timeout=_TIMEOUT_SECONDS, socket_connect_timeout=_TIMEOUT_SECONDS
        )
        return cls(client, per_minute, burst, prefix)

    async def admit(self, client: str) -> None:
        """Spend one of ``client``'s tokens, or raise ``RateLimited``."""
        if self._clock() < self._local_until:
            self._local.acquire(client)
            return
        try:
            wait_ms = await self._script(
                keys=[self._prefix + _digest(client)], args=[repr(self._rate), self._burst]
            )
        except (RedisError, OSError) as exc:
            self._local_until = self._clock() + _RETRY_SECONDS
            logger.warning(
                "rate limiter: Redis unavailable (%s); each replica limits on its own for %.0f s",
                type(exc).__name__,
                _RETRY_SECONDS,
            )
            self._local.acquire(client)
            return
        if int(wait_ms) > 0:
            raise RateLimited(max(1, math.ceil(int(wait_ms) / 1000)))

    async def aclose(self) -> None:
        await self._redis.aclose()


def _digest(client: str) -> str:
    # Bounded, and no issuer URL or address in Redis key names.
    return hashlib.sha256(client.encode()).hexdigest()
