"""JwksCache over real HTTP: TTL, one rate-limited refresh, stale keys on error, limits."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from cds_service.auth.authentication_failed import AuthenticationFailed
from cds_service.auth.jwks_cache import JwksCache
from tests.auth.conftest import JwksServer, SigningKey, jwks_of
from tests.bombs import gzip_of_gzip_of_zeros, gzip_of_zeros
from tests.memory import peak_rss_growth


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _cache(http: httpx.AsyncClient, clock: FakeClock, **options: float) -> JwksCache:
    settings = {"ttl": 300.0, "timeout": 2.0, "max_bytes": 65_536, "refresh_interval": 30.0}
    return JwksCache(http, clock=clock, **{**settings, **options})  # type: ignore[arg-type]


async def test_a_key_is_fetched_once_and_served_from_the_cache_within_the_ttl(
    http: httpx.AsyncClient, clock: FakeClock, jwks_server: JwksServer, es384_key: SigningKey
) -> None:
    url = jwks_server.publish(jwks_of(es384_key))
    cache = _cache(http, clock)

    first = await cache.find(url, es384_key.kid)
    clock.now += 299
    second = await cache.find(url, es384_key.kid)

    assert first is not None and first["x"] == es384_key.public_jwk["x"]
    assert second == first
    assert jwks_server.hits_of(url) == 1


async def test_the_set_is_fetched_again_once_the_ttl_has_passed(
    http: httpx.AsyncClient,
    clock: FakeClock,
    jwks_server: JwksServer,
    es384_key: SigningKey,
    rs384_key: SigningKey,
) -> None:
    url = jwks_server.publish(jwks_of(es384_key))
    cache = _cache(http, clock)
    await cache.find(url, es384_key.kid)

    jwks_server.publish(jwks_of(rs384_key), name=url.rsplit("/", 1)[-1])
    clock.now += 300

    assert await cache.find(url, rs384_key.kid) is not None
    assert await cache.find(url, es384_key.kid) is None  # rotated out upstream
    assert jwks_server.hits_of(url) == 2


async def test_an_unknown_kid_triggers_one_refresh_and_then_none_until_the_interval_passes(
    http: httpx.AsyncClient, clock: FakeClock, jwks_server: JwksServer, es384_key: SigningKey
) -> None:
    url = jwks_server.publish(jwks_of(es384_key))
    cache = _cache(http, clock)
    await cache.find(url, es384_key.kid)
    clock.now += 30  # the refresh interval has passed since the first fetch

    assert await cache.find(url, "no-such-kid") is None
    assert jwks_server.hits_of(url) == 2
    clock.now += 29
    assert await cache.find(url, "no-such-kid") is None
    assert await cache.find(url, "another-unknown-kid") is None
    assert jwks_server.hits_of(url) == 2  # rate-limited: no fetch per forged kid
    clock.now += 1
    assert await cache.find(url, "no-such-kid") is None
    assert jwks_server.hits_of(url) == 3


async def test_a_key_published_after_the_last_fetch_is_found_by_the_refresh(
    http: httpx.AsyncClient,
    clock: FakeClock,
    jwks_server: JwksServer,
    es384_key: SigningKey,
    rs384_key: SigningKey,
) -> None:
    url = jwks_server.publish(jwks_of(es384_key))
    cache = _cache(http, clock, refresh_interval=0)
    await cache.find(url, es384_key.kid)

    jwks_server.publish(jwks_of(es384_key, rs384_key), name=url.rsplit("/", 1)[-1])

    assert await cache.find(url, rs384_key.kid) is not None
    assert jwks_server.hits_of(url) == 2


async def test_stale_keys_are_kept_when_a_refresh_fails(
    http: httpx.AsyncClient,
    clock: FakeClock,
    jwks_server: JwksServer,
    es384_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = jwks_server.publish(jwks_of(es384_key))
    cache = _cache(http, clock)
    await cache.find(url, es384_key.kid)

    jwks_server.publish(b"down for maintenance", status=503, name=url.rsplit("/", 1)[-1])
    clock.now += 300

    assert await cache.find(url, es384_key.kid) is not None
    assert jwks_server.hits_of(url) == 2
    assert "HTTP 503" in caplog.text and "keeping the cached keys" in caplog.text
    clock.now += 10  # within the refresh interval of the failed attempt: no hammering
    assert await cache.find(url, es384_key.kid) is not None
    assert jwks_server.hits_of(url) == 2


async def test_a_set_never_fetched_is_unavailable_and_not_refetched_within_the_interval(
    http: httpx.AsyncClient, clock: FakeClock, jwks_server: JwksServer
) -> None:
    url = jwks_server.publish(b"{}", status=500)
    cache = _cache(http, clock)

    for _ in range(2):
        with pytest.raises(AuthenticationFailed) as refused:
            await cache.find(url, "kid")
        assert refused.value.reason == "jwks-unavailable"
    assert jwks_server.hits_of(url) == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_size_limit_is_refused(
    http: httpx.AsyncClient,
    clock: FakeClock,
    jwks_server: JwksServer,
    es384_key: SigningKey,
    chunked: bool,
) -> None:
    padding = [{"kid": f"pad-{i}", "kty": "oct-padding"} for i in range(200)]
    url = jwks_server.publish({"keys": [es384_key.public_jwk, *padding]}, chunked=chunked)
    cache = _cache(http, clock, max_bytes=4096)

    with pytest.raises(AuthenticationFailed, match="jwks-unavailable"):
        await cache.find(url, es384_key.kid)
    assert await _cache(http, clock, max_bytes=65_536).find(url, es384_key.kid) is not None


async def test_a_slow_server_is_abandoned_at_the_timeout(
    http: httpx.AsyncClient, clock: FakeClock, jwks_server: JwksServer, es384_key: SigningKey
) -> None:
    url = jwks_server.publish(jwks_of(es384_key), delay=2.0)
    cache = _cache(http, clock, timeout=0.2)

    with pytest.raises(AuthenticationFailed, match="jwks-unavailable"):
        await cache.find(url, es384_key.kid)


async def test_a_redirect_is_not_followed(
    http: httpx.AsyncClient, clock: FakeClock, jwks_server: JwksServer, es384_key: SigningKey
) -> None:
    target = jwks_server.publish(jwks_of(es384_key))
    name = target.rsplit("/", 1)[-1]
    cache = _cache(http, clock)

    with pytest.raises(AuthenticationFailed, match="jwks-unavailable"):
        await cache.find(f"{jwks_server.base_url}/redirect/{name}", es384_key.kid)
    assert jwks_server.hits_of(target) == 0


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"keys": "nope"}', b'{"keys": []}'], ids=repr
)
async def test_a_body_that_is_not_a_usable_jwks_is_unavailable(
    http: httpx.AsyncClient, clock: FakeClock, jwks_server: JwksServer, body: bytes
) -> None:
    url = jwks_server.publish(body)

    with pytest.raises(AuthenticationFailed, match="jwks-unavailable"):
        await _cache(http, clock).find(url, "kid")


async def test_unusable_keys_are_skipped_and_the_rest_served(
    http: httpx.AsyncClient, clock: FakeClock, jwks_server: JwksServer, es384_key: SigningKey
) -> None:
    symmetric = {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}
    leaked = {**es384_key.public_jwk, "kid": "leaked", "d": "cHJpdmF0ZQ"}
    url = jwks_server.publish({"keys": [symmetric, leaked, es384_key.public_jwk]})
    cache = _cache(http, clock)

    assert await cache.find(url, es384_key.kid) is not None
    assert await cache.find(url, "hmac") is None
    assert await cache.find(url, "leaked") is None


async def test_concurrent_lookups_share_one_fetch(
    http: httpx.AsyncClient, clock: FakeClock, jwks_server: JwksServer, es384_key: SigningKey
) -> None:
    url = jwks_server.publish(jwks_of(es384_key), delay=0.1)
    cache = _cache(http, clock)

    found = await asyncio.gather(*(cache.find(url, es384_key.kid) for _ in range(5)))

    assert all(key is not None for key in found)
    assert jwks_server.hits_of(url) == 1


@pytest.mark.parametrize(
    "body, encoding, problem",
    [
        (gzip_of_zeros, "gzip", "response larger than the configured limit"),
        (gzip_of_gzip_of_zeros, "gzip, gzip", "stacked content codings (gzip, gzip)"),
        (gzip_of_zeros, "br", "content coding 'br' is not supported"),
        (gzip_of_zeros, "compress", "content coding 'compress' is not supported"),
    ],
    ids=["gzip", "gzip-gzip", "br", "compress"],
)
async def test_a_compressed_bomb_is_refused_within_the_timeout_and_bounded_memory(
    http: httpx.AsyncClient,
    clock: FakeClock,
    jwks_server: JwksServer,
    caplog: pytest.LogCaptureFixture,
    body,
    encoding: str,
    problem: str,
) -> None:
    # Chunked, so no Content-Length gives the size away: only counting decoded bytes can stop it.
    url = jwks_server.publish(body(), chunked=True, headers={"content-encoding": encoding})
    cache = _cache(http, clock, timeout=2.0)

    started = time.monotonic()
    with (
        peak_rss_growth() as growth,
        caplog.at_level(logging.WARNING),
        pytest.raises(AuthenticationFailed, match="jwks-unavailable"),
    ):
        await cache.find(url, "kid")
    assert time.monotonic() - started < 2.0 + 1.5
    assert growth.mib < 100, f"RSS grew by {growth.mib:.0f} MiB"
    assert problem in caplog.text


async def test_identity_is_asked_for_and_a_gzip_set_within_the_limit_still_works(
    http: httpx.AsyncClient, clock: FakeClock, jwks_server: JwksServer, es384_key: SigningKey
) -> None:
    document = gzip.compress(json.dumps(jwks_of(es384_key)).encode())
    url = jwks_server.publish(document, headers={"content-encoding": "gzip"})

    assert await _cache(http, clock).find(url, es384_key.kid) is not None
    assert jwks_server.accept_encoding[url.rsplit("/", 1)[-1]] == "identity"
