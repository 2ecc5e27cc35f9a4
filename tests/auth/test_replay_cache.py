"""Replay caches: in memory for one replica, in a real Redis (``redis_url``) for several."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as redis

from cds_service.auth.authentication_failed import AuthenticationFailed
from cds_service.auth.replay_cache import MemoryReplayCache, RedisReplayCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_accepts_a_jti_once_until_it_expires() -> None:
    clock = FakeClock()
    cache = MemoryReplayCache(clock)
    expires_at = clock.now + 300

    assert await cache.first_use("https://ehr.example", "jti-1", expires_at) is True
    assert await cache.first_use("https://ehr.example", "jti-1", expires_at) is False
    clock.now = expires_at - 1
    assert await cache.first_use("https://ehr.example", "jti-1", expires_at) is False
    clock.now = expires_at
    assert await cache.first_use("https://ehr.example", "jti-1", clock.now + 300) is True


async def test_memory_keeps_issuers_apart() -> None:
    cache = MemoryReplayCache(FakeClock())
    expires_at = FakeClock().now + 300

    assert await cache.first_use("https://a.example", "same-jti", expires_at) is True
    assert await cache.first_use("https://b.example", "same-jti", expires_at) is True
    # Whatever characters they hold, two different pairs never share a key.
    assert await cache.first_use("a", "b\x00c", expires_at) is True
    assert await cache.first_use("a\x00b", "c", expires_at) is True


async def test_memory_forgets_expired_entries() -> None:
    clock = FakeClock()
    cache = MemoryReplayCache(clock)
    for i in range(100):
        await cache.first_use("https://ehr.example", f"jti-{i}", clock.now + 10 + i)

    clock.now += 1000
    await cache.first_use("https://ehr.example", "fresh", clock.now + 10)

    assert len(cache._expiries) == 1


@pytest.mark.integration
async def test_redis_accepts_a_jti_once_and_expires_it_with_the_token(
    redis_url: str, redis_prefix: str
) -> None:
    cache = RedisReplayCache.from_url(redis_url, redis_prefix)
    expires_at = time.time() + 120
    try:
        assert await cache.first_use("https://ehr.example", "jti-1", expires_at) is True
        assert await cache.first_use("https://ehr.example", "jti-1", expires_at) is False
        assert await cache.first_use("https://other.example", "jti-1", expires_at) is True
    finally:
        await cache.aclose()

    client = redis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=redis_prefix + "*")]
        ttls = [await client.pttl(key) for key in keys]
    finally:
        await client.aclose()
    assert len(keys) == 2
    assert all(110_000 < ttl <= 120_000 for ttl in ttls)


@pytest.mark.integration
async def test_two_replicas_sharing_redis_refuse_each_others_jti(
    redis_url: str, redis_prefix: str
) -> None:
    first = RedisReplayCache.from_url(redis_url, redis_prefix)
    second = RedisReplayCache.from_url(redis_url, redis_prefix)
    expires_at = time.time() + 60
    try:
        assert await first.first_use("https://ehr.example", "shared", expires_at) is True
        assert await second.first_use("https://ehr.example", "shared", expires_at) is False
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.integration
async def test_an_unreachable_redis_refuses_rather_than_letting_replays_through() -> None:
    # Port 1 on loopback has no listener: the connection is refused at once.
    cache = RedisReplayCache.from_url("redis://127.0.0.1:1/0", "radix-test:", timeout=0.5)
    try:
        with pytest.raises(AuthenticationFailed) as refused:
            await cache.first_use("https://ehr.example", "jti", time.time() + 60)
    finally:
        await cache.aclose()
    assert refused.value.reason == "replay-cache-unavailable"
