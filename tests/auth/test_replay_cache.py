"""Replay caches: in memory for one replica, in a real Redis (``redis_url``) for several."""

from __future__ import annotations

import logging
import time

import pytest
import redis.asyncio as redis

from cds_service.auth.authentication_failed import AuthenticationFailed
from cds_service.auth.replay_cache import DEFAULT_MAX_ENTRIES, MemoryReplayCache, RedisReplayCache
from cds_service.settings import Settings


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


async def _full(cache: MemoryReplayCache, jti: str, expires_at: float) -> str:
    with pytest.raises(AuthenticationFailed) as refused:
        await cache.first_use("https://ehr.example", jti, expires_at)
    return refused.value.reason


async def test_a_full_memory_cache_refuses_new_tokens_and_still_spots_replays() -> None:
    clock = FakeClock()
    cache = MemoryReplayCache(clock, max_entries=3)
    for i in range(3):
        assert await cache.first_use("https://ehr.example", f"jti-{i}", clock.now + 100 + i)

    # Nothing unexpired is dropped to make room (it could then be replayed): a new token is
    # refused, and a replay is still a replay.
    assert await _full(cache, "jti-new", clock.now + 100) == "replay-cache-full"
    assert await cache.first_use("https://ehr.example", "jti-1", clock.now + 100) is False
    assert len(cache) == 3
    # Once the oldest has expired its room is free: expired ids go first.
    clock.now += 100
    assert await cache.first_use("https://ehr.example", "jti-new", clock.now + 100) is True
    assert await _full(cache, "jti-newer", clock.now + 100) == "replay-cache-full"
    assert len(cache) == 3
    # The refused token spent nothing: once there is room it passes.
    clock.now += 2
    assert await cache.first_use("https://ehr.example", "jti-newer", clock.now + 100) is True


async def test_a_full_memory_cache_stays_at_its_bound_under_a_flood() -> None:
    clock = FakeClock()
    cache = MemoryReplayCache(clock, max_entries=50)
    accepted = refused = 0
    for i in range(1_000):
        clock.now += 0.1  # ten tokens a second, each valid 30 s: 300 would be held unbounded
        try:
            accepted += await cache.first_use("https://ehr.example", f"jti-{i}", clock.now + 30)
        except AuthenticationFailed:
            refused += 1
        assert len(cache) <= 50
    assert accepted + refused == 1_000 and accepted >= 50 and refused > 0


async def test_a_full_memory_cache_says_so_once_a_minute_without_token_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    cache = MemoryReplayCache(clock, max_entries=1)
    await cache.first_use("https://ehr.example", "held-jti", clock.now + 3600)
    with caplog.at_level(logging.ERROR, logger="cds_service.auth.replay_cache"):
        for n in range(5):
            await _full(cache, f"secret-jti-{n}", clock.now + 3600)
        clock.now += 61
        await _full(cache, "secret-jti-later", clock.now + 3600)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "RADIX_REPLAY_CACHE_MAX_ENTRIES" in errors[0].getMessage()
    assert not any("secret-jti" in r.getMessage() or "held-jti" in r.getMessage() for r in errors)


def test_the_setting_and_the_cache_share_their_default() -> None:
    assert Settings().replay_cache_max_entries == DEFAULT_MAX_ENTRIES
    with pytest.raises(ValueError):
        MemoryReplayCache(max_entries=0)


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
