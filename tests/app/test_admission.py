"""Who gets in, and how often: limits before authentication, per-client buckets, analytics.

Over real HTTP (uvicorn on 127.0.0.1) with real ES384 JWTs; the shared buckets on a real Redis.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr
from redis.asyncio import Redis

from cds_service.app import create_app
from cds_service.app.rate_limiter import RateLimited
from cds_service.app.shared_rate_limiter import SharedRateLimiter
from tests.app.test_application import CASES, _settings, hook_request
from tests.app.test_security import ISS, PUBLIC, SERVICE, _bearer, _outcome, _token
from tests.auth.conftest import SigningKey, write_trust_file
from tests.live_server import free_port, serve

DISCOVERY = "/cds-services"
VIGNETTE = CASES["ces-retention"]


def _verifications(caplog: pytest.LogCaptureFixture) -> int:
    """How many tokens the authenticator looked at and refused (one log record each)."""
    return sum(1 for r in caplog.records if getattr(r, "auth_reason", None))


@pytest.fixture
def untenanted_trust_file(tmp_path: Path, client_key: SigningKey) -> Path:
    """The issuer is trusted with no tenant list: ``tenant`` is whatever the client signs."""
    return write_trust_file(tmp_path, ISS, client_key)


@pytest.fixture(scope="module")
def client_key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "ehr-" + uuid.uuid4().hex)


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own in the shared Redis; its keys are deleted afterwards."""
    prefix = f"radix-test:{uuid.uuid4().hex}:"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _guarded(tmp_path: Path, trust_file: Path, **overrides: Any) -> Any:
    settings = _settings(
        tmp_path,
        auth_required=True,
        trusted_clients_file=trust_file,
        public_base_url=PUBLIC,
        **overrides,
    )
    return create_app(settings, clock=lambda: VIGNETTE.as_of)


# --- Before authentication: the peer address ----------------------------------------------------


async def test_a_peer_sending_invalid_tokens_gets_429_before_any_token_is_verified(
    tmp_path, untenanted_trust_file, client_key, caplog
):
    caplog.set_level(logging.INFO)
    app = _guarded(
        tmp_path, untenanted_trust_file, peer_refusals_per_minute=6, peer_refusal_burst=5
    )
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        # A stranger's key under the client's kid: a well-formed token that fails its signature.
        forged = SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", client_key.kid)
        statuses = []
        for n in range(40):
            token = _token(forged, SERVICE) if n % 2 else "not.a.jwt"
            response = await client.post(SERVICE, json={}, headers=_bearer(token))
            statuses.append(response.status_code)
        assert statuses[:5] == [401] * 5
        assert set(statuses[5:]) == {429}
        throttled = await client.post(SERVICE, json={}, headers=_bearer("not.a.jwt"))
        issue = _outcome(throttled, 429)
        assert issue["code"] == "throttled" and 1 <= int(throttled.headers["retry-after"]) <= 10
        # Only the five refusals within the burst were verified; the 35 after them cost nothing.
        assert _verifications(caplog) == 5
        # Logged (and audited) apart from a client over its rate.
        assert any("429 (peer-throttled)" in r.getMessage() for r in caplog.records)
        # The throttled peer's valid token waits too: the address is all that is known before
        # the signature is checked (behind a proxy, see RADIX_FORWARDED_ALLOW_IPS).
        valid = await client.get(DISCOVERY, headers=_bearer(_token(client_key, DISCOVERY)))
        _outcome(valid, 429)
        # Health is never limited.
        assert (await client.get("/livez")).status_code == 200


async def test_successful_calls_do_not_spend_the_peers_refusals(
    tmp_path, untenanted_trust_file, client_key
):
    """EHRs behind one proxy address are not throttled together for calls that succeed."""
    app = _guarded(
        tmp_path,
        untenanted_trust_file,
        peer_refusals_per_minute=6,
        peer_refusal_burst=2,
        rate_limit_per_minute=0,
    )
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        for _ in range(10):
            response = await client.get(DISCOVERY, headers=_bearer(_token(client_key, DISCOVERY)))
            assert response.status_code == 200
        for _ in range(2):
            _outcome(await client.get(DISCOVERY, headers=_bearer("not.a.jwt")), 401)
        _outcome(await client.get(DISCOVERY, headers=_bearer("not.a.jwt")), 429)


async def test_a_full_replay_cache_refuses_new_tokens_with_401_counted_and_logged(
    tmp_path, untenanted_trust_file, client_key, caplog
):
    """Without Redis the token ids live in memory, bounded: past the bound, no new token passes
    (fail closed) until one held expires; the replay cache never grows past it."""
    from prometheus_client import REGISTRY

    caplog.set_level(logging.INFO)
    app = _guarded(tmp_path, untenanted_trust_file, replay_cache_max_entries=2)

    def refusals() -> float:
        sample = REGISTRY.get_sample_value(
            "radix_jwt_refusals_total", {"reason": "replay-cache-full"}
        )
        return sample or 0.0

    before = refusals()
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        tokens = [_token(client_key, DISCOVERY) for _ in range(3)]
        for token in tokens[:2]:
            assert (await client.get(DISCOVERY, headers=_bearer(token))).status_code == 200
        issue = _outcome(await client.get(DISCOVERY, headers=_bearer(tokens[2])), 401)
        assert issue["code"] == "login"
        # A replay of a token held is still a replay, not a capacity problem.
        _outcome(await client.get(DISCOVERY, headers=_bearer(tokens[0])), 401)
    assert refusals() - before == 1
    reasons = [getattr(r, "auth_reason", None) for r in caplog.records]
    assert reasons.count("replay-cache-full") == 1 and reasons.count("replayed-jti") == 1
    assert any("RADIX_REPLAY_CACHE_MAX_ENTRIES" in r.getMessage() for r in caplog.records)
    # Claims are logged, never a token: one in the log could be replayed by whoever reads it.
    logged = "\n".join(r.getMessage() + str(vars(r)) for r in caplog.records)
    assert not any(token in logged or token.split(".")[2] in logged for token in tokens)


async def test_an_oversized_authorization_header_is_refused_unparsed(
    tmp_path, untenanted_trust_file, caplog
):
    caplog.set_level(logging.INFO)
    app = _guarded(tmp_path, untenanted_trust_file)
    huge = "Bearer " + "e30." * 16_000  # 64 KB of something JWT-shaped
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        _outcome(await client.post(SERVICE, json={}, headers={"Authorization": huge}), 401)
    reasons = [r.auth_reason for r in caplog.records if getattr(r, "auth_reason", None)]
    assert reasons == ["malformed-token"]


async def test_a_declared_body_over_the_limit_is_a_413_before_authentication_or_reading(
    tmp_path, untenanted_trust_file, caplog
):
    """Headers only, the 10 MB body never sent: the answer comes without waiting for it."""
    caplog.set_level(logging.INFO)
    app = _guarded(tmp_path, untenanted_trust_file)
    async with serve(app) as url:
        port = int(url.rsplit(":", 1)[1])
        head = (
            f"POST {SERVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Authorization: Bearer not.a.jwt\r\nContent-Length: 10000000\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
    assert _verifications(caplog) == 0  # no JWT work for it


# --- Per client: the trusted issuer, and tenant only when the trust file lists tenants ----------


async def test_rotating_the_tenant_claim_does_not_buy_a_fresh_bucket(
    tmp_path, untenanted_trust_file, client_key
):
    app = _guarded(tmp_path, untenanted_trust_file, rate_limit_per_minute=60, rate_limit_burst=3)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        statuses = []
        for _ in range(6):
            token = _token(client_key, DISCOVERY, tenant=f"tenant-{uuid.uuid4().hex}")
            statuses.append((await client.get(DISCOVERY, headers=_bearer(token))).status_code)
        without = await client.get(
            DISCOVERY, headers=_bearer(_token(client_key, DISCOVERY, tenant=None))
        )
    assert statuses == [200, 200, 200, 429, 429, 429]
    _outcome(without, 429)


async def test_tenants_listed_in_the_trust_file_have_a_bucket_each(tmp_path, client_key):
    trust_file = write_trust_file(tmp_path, ISS, client_key, ["site-a", "site-b"])
    app = _guarded(tmp_path, trust_file, rate_limit_per_minute=60, rate_limit_burst=2)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def call(tenant: str) -> int:
            token = _token(client_key, DISCOVERY, tenant=tenant)
            return (await client.get(DISCOVERY, headers=_bearer(token))).status_code

        assert [await call("site-a") for _ in range(3)] == [200, 200, 429]
        assert [await call("site-b") for _ in range(3)] == [200, 200, 429]


async def test_the_default_limit_is_reachable(tmp_path, untenanted_trust_file, client_key):
    """The defaults (600/min, burst 100) give a 429 to a client calling flat out."""
    app = _guarded(tmp_path, untenanted_trust_file)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        statuses = []
        for _ in range(110):
            token = _token(client_key, DISCOVERY)
            statuses.append((await client.get(DISCOVERY, headers=_bearer(token))).status_code)
    assert statuses[:100] == [200] * 100
    assert 429 in statuses[100:]


# --- Shared through Redis ------------------------------------------------------------------------


async def test_two_replicas_sharing_redis_share_one_bucket(
    tmp_path, untenanted_trust_file, client_key, redis_url, redis_prefix
):
    replicas = [
        _guarded(
            tmp_path / name,
            untenanted_trust_file,
            redis_url=redis_url,
            jti_key_prefix=redis_prefix + "jti:",
            rate_limit_key_prefix=redis_prefix + "rate:",
            rate_limit_per_minute=60,
            rate_limit_burst=4,
        )
        for name in ("a", "b")
    ]
    body = hook_request(VIGNETTE)
    async with (
        serve(replicas[0]) as url_a,
        serve(replicas[1]) as url_b,
        httpx.AsyncClient(timeout=10) as client,
    ):
        statuses = []
        for n in range(8):
            url = (url_a, url_b)[n % 2]
            token = _token(client_key, SERVICE, tenant=f"rotated-{n}")
            response = await client.post(url + SERVICE, json=body, headers=_bearer(token))
            statuses.append(response.status_code)
    # Four calls in all, not four per replica.
    assert statuses == [200, 200, 200, 200, 429, 429, 429, 429]
    redis = Redis.from_url(redis_url)
    try:
        assert len([k async for k in redis.scan_iter(match=f"{redis_prefix}rate:*")]) == 1
    finally:
        await redis.aclose()


async def test_the_shared_bucket_refills_at_the_rate(redis_url, redis_prefix):
    limiters = [
        SharedRateLimiter(Redis.from_url(redis_url), 120, 2, prefix=redis_prefix) for _ in range(2)
    ]
    try:
        await limiters[0].admit("ehr")
        await limiters[1].admit("ehr")
        with pytest.raises(RateLimited) as refused:
            await limiters[0].admit("ehr")
        assert refused.value.retry_after == 1
        await asyncio.sleep(0.6)  # 2 tokens per second: one is back
        await limiters[1].admit("ehr")
        with pytest.raises(RateLimited):
            await limiters[0].admit("ehr")
        await limiters[0].admit("another ehr")
    finally:
        for limiter in limiters:
            await limiter.aclose()


def _closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


async def test_without_redis_each_replica_still_limits_on_its_own(tmp_path, caplog):
    """Redis down: calls are answered, and held to the local bucket (fail open to a limit)."""
    caplog.set_level(logging.WARNING)
    settings = _settings(
        tmp_path,
        redis_url=f"redis://127.0.0.1:{_closed_port()}/0",
        rate_limit_per_minute=60,
        rate_limit_burst=3,
    )
    app = create_app(settings, clock=lambda: VIGNETTE.as_of)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        statuses = [(await client.get(DISCOVERY)).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert any("Redis unavailable" in r.getMessage() for r in caplog.records)


# --- Analytics ----------------------------------------------------------------------------------


@pytest.fixture
async def analytics(tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    settings = _settings(
        tmp_path,
        admin_token=SecretStr("admin-s3cret"),
        peer_refusals_per_minute=6,
        peer_refusal_burst=3,
    )
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client


async def _summary_status(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return (await client.get("/analytics/summary", headers=headers)).status_code


async def test_guessing_the_admin_token_is_throttled(analytics):
    wrong = {"Authorization": "Bearer guess"}
    statuses = [await _summary_status(analytics, wrong) for _ in range(6)]
    assert statuses == [401, 401, 401, 429, 429, 429]
    refused = await analytics.get("/analytics/summary", headers=wrong)
    assert refused.headers["content-type"].startswith("application/fhir+json")
    assert int(refused.headers["retry-after"]) >= 1


async def test_the_admin_is_rate_limited_too(analytics):
    right = {"Authorization": "Bearer admin-s3cret"}
    statuses = [await _summary_status(analytics, right) for _ in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
