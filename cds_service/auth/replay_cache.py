"""Replay protection: each (``iss``, ``jti``) passes once, until its token could not pass."""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from cds_service import metrics
from cds_service.auth.authentication_failed import AuthenticationFailed
from cds_service.lifecycle import AsyncResource, Resource

if TYPE_CHECKING:
    import redis.asyncio as redis

logger = logging.getLogger(__name__)


class ReplayCache(Resource, Protocol):
    """Remembers token ids until ``expires_at`` (epoch seconds).

    An async context manager (``AsyncResource``): whoever owns it enters it, and leaving
    releases what it holds (the Redis cache's connections).
    """

    async def first_use(self, iss: str, jti: str, expires_at: float) -> bool:
        """Record the token id; True if it was not already recorded and unexpired."""
        ...

    @property
    def shared(self) -> bool:
        """True when the cache lives outside this process (and can therefore be unreachable)."""
        ...

    async def ready(self) -> bool:
        """True when ``first_use`` can answer now (readiness)."""
        ...


def _key(iss: str, jti: str) -> str:
    # jti is unique per issuer only; JSON keeps the pair unambiguous whatever characters it holds,
    # and hashing bounds the key length whatever the client sends.
    return hashlib.sha256(json.dumps([iss, jti]).encode()).hexdigest()


#: Token ids the in-memory cache holds at most (``RADIX_REPLAY_CACHE_MAX_ENTRIES``): ~215 B
#: each, ~21 MiB. An id is held until its token's ``exp`` plus the leeway: enough for ~25 new
#: tokens a second with hour-long tokens, ~275 with the usual five-minute ones.
DEFAULT_MAX_ENTRIES = 100_000
#: Seconds between two "cache full" errors in the log (each refusal is logged and counted too).
_FULL_LOG_INTERVAL = 60.0


class MemoryReplayCache(AsyncResource):
    """A replay cache for one process (one replica), holding at most ``max_entries`` token ids.

    A token id must be remembered until its token expires, so nothing unexpired can be dropped
    to make room: a full cache refuses new tokens (``replay-cache-full``) instead of growing
    without bound or forgetting one that could then be replayed. Expired ids go first.
    """

    def __init__(
        self, clock: Callable[[], float] = time.time, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._max_entries = max_entries
        self._expiries: dict[str, float] = {}
        self._queue: list[tuple[float, str]] = []
        self._full_logged_at = -math.inf

    async def first_use(self, iss: str, jti: str, expires_at: float) -> bool:
        self._forget_expired()
        key = _key(iss, jti)
        if key in self._expiries:
            return False
        if len(self._expiries) >= self._max_entries:
            # Fail closed: a replay let through is a breach, a refused call is retried.
            self._log_full()
            raise AuthenticationFailed("replay-cache-full")
        self._expiries[key] = expires_at
        heapq.heappush(self._queue, (expires_at, key))
        return True

    def __len__(self) -> int:
        """Token ids held now (expired ones included until the next call purges them)."""
        return len(self._expiries)

    def _log_full(self) -> None:
        now = self._clock()
        if now - self._full_logged_at < _FULL_LOG_INTERVAL:
            return
        self._full_logged_at = now
        logger.error(
            "replay cache full: %d unexpired token ids held, new tokens are refused until the "
            "oldest expire (in %.0f s); set RADIX_REDIS_URL, or raise "
            "RADIX_REPLAY_CACHE_MAX_ENTRIES",
            len(self._expiries),
            max(0.0, self._queue[0][0] - now),
            extra={"replay_cache_entries": len(self._expiries)},
        )

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._queue and self._queue[0][0] <= now:
            _, key = heapq.heappop(self._queue)
            del self._expiries[key]

    @property
    def shared(self) -> bool:
        return False

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._expiries.clear()
        self._queue.clear()


class RedisReplayCache(AsyncResource):
    """A replay cache shared by every replica through Redis (``SET NX`` with an expiry)."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "radix:jti:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._clock = clock

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "radix:jti:", timeout: float = 1.0
    ) -> RedisReplayCache:
        """A cache on the Redis at ``url``, giving up on Redis after ``timeout`` seconds."""
        # Imported here: the Redis client only for a deployment that configures Redis.
        import redis.asyncio as redis

        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, prefix)

    async def first_use(self, iss: str, jti: str, expires_at: float) -> bool:
        from redis.exceptions import RedisError

        ttl_ms = max(1, math.ceil((expires_at - self._clock()) * 1000))
        try:
            stored = await self._redis.set(self._prefix + _key(iss, jti), b"1", nx=True, px=ttl_ms)
        except (RedisError, OSError) as exc:
            metrics.REDIS_ERRORS.labels("replay-cache").inc()
            # Failing open would let any replay through while Redis is down.
            raise AuthenticationFailed("replay-cache-unavailable") from exc
        return bool(stored)

    @property
    def shared(self) -> bool:
        return True

    async def ready(self) -> bool:
        """Whether Redis answers a PING (within the client's socket timeout)."""
        from redis.exceptions import RedisError

        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def aclose(self) -> None:
        await self._redis.aclose()
