"""The JWT attack matrix: each row one test, run against a real JWKS server and a real Redis."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.auth.authentication_failed import AuthenticationFailed
from cds_service.auth.client_authenticator import ClientAuthenticator
from cds_service.auth.client_identity import ClientIdentity
from cds_service.auth.jwks_cache import JwksCache
from cds_service.auth.replay_cache import MemoryReplayCache, RedisReplayCache, ReplayCache
from cds_service.auth.trusted_client import TrustedClient, TrustFileError
from cds_service.settings import Settings
from tests.auth.conftest import JwksServer, SigningKey, jwks_of

ISS = "https://ehr.example.org/fhir"
BASE = "https://radix.example.org"
SERVICE_URL = f"{BASE}/cds-services/radix-lumbar"
DISCOVERY_URL = f"{BASE}/cds-services"
_DROP = object()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISS, "aud": SERVICE_URL, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not _DROP}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(signature)}"
    )


class RecordingTransport(httpx.AsyncBaseTransport):
    """Records every request the authenticator makes, then sends it for real (or fails)."""

    def __init__(self, forward: bool = True) -> None:
        self.requests: list[str] = []
        self.closed = False
        self._real = httpx.AsyncHTTPTransport() if forward else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        if self._real is None:
            raise httpx.ConnectError("this test allows no request", request=request)
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        self.closed = True
        if self._real is not None:
            await self._real.aclose()


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
async def http(transport: RecordingTransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport) as client:
        yield client


Make = Callable[..., ClientAuthenticator]


@pytest.fixture
async def make(http: httpx.AsyncClient) -> AsyncIterator[Make]:
    built: list[ClientAuthenticator] = []

    def build(
        *clients: TrustedClient, replay: ReplayCache | None = None, **options: Any
    ) -> ClientAuthenticator:
        authenticator = ClientAuthenticator(
            {client.iss: client for client in clients},
            JwksCache(http, ttl=300, timeout=2.0, max_bytes=65_536, refresh_interval=30),
            replay or MemoryReplayCache(),
            **{"leeway": 60, "max_lifetime": 3600, **options},
        )
        built.append(authenticator)
        return authenticator

    yield build
    for authenticator in built:
        await authenticator.aclose()


@pytest.fixture
def es_client(jwks_server: JwksServer, es384_key: SigningKey) -> tuple[TrustedClient, str]:
    """A client whose keys Radix fetches from its allowlisted ``jku``."""
    url = jwks_server.publish(jwks_of(es384_key))
    return TrustedClient(iss=ISS, jku=frozenset({url})), url


async def _refused(authenticator: ClientAuthenticator, authorization: str | None, aud: str) -> str:
    with pytest.raises(AuthenticationFailed) as refused:
        await authenticator.authenticate(authorization, aud)
    return refused.value.reason


# --- Accepted --------------------------------------------------------------------------------


async def test_valid_es384_token_with_keys_fetched_from_its_jku_is_accepted(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey, jwks_server: JwksServer
) -> None:
    client, url = es_client
    token = es384_key.sign(_claims(tenant="site-a", sub="epic-client-1"), jku=url)

    identity = await make(client).authenticate(f"Bearer {token}", SERVICE_URL)

    assert identity == ClientIdentity(
        iss=ISS,
        tenant="site-a",
        jti=jwt.decode(token, options={"verify_signature": False})["jti"],
        sub="epic-client-1",
    )
    assert jwks_server.hits_of(url) == 1


async def test_valid_rs384_token_is_accepted(
    make: Make, jwks_server: JwksServer, rs384_key: SigningKey
) -> None:
    url = jwks_server.publish(jwks_of(rs384_key))
    client = TrustedClient(iss=ISS, jku=frozenset({url}))
    token = rs384_key.sign(_claims(), jku=url)

    identity = await make(client).authenticate(f"Bearer {token}", SERVICE_URL)

    assert identity.iss == ISS and identity.tenant is None and identity.sub is None


async def test_a_token_without_jku_is_verified_with_the_static_keys_and_nothing_is_fetched(
    make: Make, transport: RecordingTransport, es384_key: SigningKey
) -> None:
    client = TrustedClient(iss=ISS, keys={es384_key.kid: es384_key.public_jwk})

    await make(client).authenticate(f"bearer {es384_key.sign(_claims())}", SERVICE_URL)

    assert transport.requests == []


async def test_a_pinned_kid_is_verified_without_fetching_its_allowlisted_jku(
    make: Make, transport: RecordingTransport, jwks_server: JwksServer, es384_key: SigningKey
) -> None:
    # The Sandbox set-up: its jku is allowlisted but unreachable offline, its key pinned.
    url = jwks_server.publish(b"", status=503)
    client = TrustedClient(
        iss=ISS, jku=frozenset({url}), keys={es384_key.kid: es384_key.public_jwk}
    )

    await make(client).authenticate(f"Bearer {es384_key.sign(_claims(), jku=url)}", SERVICE_URL)

    assert transport.requests == []


async def test_a_token_without_jku_is_verified_with_the_configured_jku(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, _ = es_client

    identity = await make(client).authenticate(f"Bearer {es384_key.sign(_claims())}", SERVICE_URL)

    assert identity.iss == ISS


@pytest.mark.parametrize(
    "aud",
    [
        SERVICE_URL + "/",
        "HTTPS://RADIX.example.ORG/cds-services/radix-lumbar",
        "https://radix.example.org:443/cds-services/radix-lumbar",
        ["https://other.example/cds-services/x", SERVICE_URL],
    ],
    ids=["trailing-slash", "scheme-host-case", "default-port", "array"],
)
async def test_aud_is_compared_after_normalisation_and_may_be_an_array(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey, aud: Any
) -> None:
    client, url = es_client
    token = es384_key.sign(_claims(aud=aud), jku=url)

    assert (await make(client).authenticate(f"Bearer {token}", SERVICE_URL)).iss == ISS


async def test_clock_skew_within_the_leeway_is_tolerated(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    now = int(time.time())
    token = es384_key.sign(_claims(iat=now + 30, nbf=now + 30, exp=now - 30 + 300), jku=url)

    assert (await make(client).authenticate(f"Bearer {token}", SERVICE_URL)).iss == ISS


# --- Refused: the attack matrix ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing-token"),
        ("", "missing-token"),
        ("Basic dXNlcjpwYXNz", "missing-token"),
        ("Bearer", "missing-token"),
        ("Bearer    ", "missing-token"),
    ],
)
async def test_no_token_is_refused(
    make: Make, es_client: tuple[TrustedClient, str], authorization: str | None, reason: str
) -> None:
    assert await _refused(make(es_client[0]), authorization, SERVICE_URL) == reason


async def test_alg_none_is_refused(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    header = {"alg": "none", "typ": "JWT", "kid": es384_key.kid, "jku": url}

    for token in (_unsigned(header, _claims()), _unsigned(header, _claims()).rstrip(".") + "."):
        assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "forbidden-alg"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_signed_with_the_public_key_as_secret_is_refused(
    make: Make,
    es_client: tuple[TrustedClient, str],
    es384_key: SigningKey,
    transport: RecordingTransport,
    alg: str,
) -> None:
    client, url = es_client
    secret = es384_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": alg, "typ": "JWT", "kid": es384_key.kid, "jku": url}
    signing_input = _unsigned(header, _claims()).rsplit(".", 1)[0]
    digest = getattr(hashlib, f"sha{alg[2:]}")
    forged = f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), digest).digest())}"

    assert await _refused(make(client), f"Bearer {forged}", SERVICE_URL) == "forbidden-alg"
    assert transport.requests == []


async def test_wrong_aud_is_refused(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    for aud in (
        "https://evil.example/cds-services/radix-lumbar",
        [],
        42,
        ["x", 1],
        None,
        "http://[",
    ):
        token = es384_key.sign(_claims(aud=aud), jku=url)
        assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "bad-aud"


async def test_the_discovery_aud_is_refused_on_a_service_call(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    token = es384_key.sign(_claims(aud=DISCOVERY_URL), jku=url)
    authenticator = make(client)

    assert await _refused(authenticator, f"Bearer {token}", SERVICE_URL) == "bad-aud"
    other_service = es384_key.sign(_claims(aud=f"{DISCOVERY_URL}/another-service"), jku=url)
    assert await _refused(authenticator, f"Bearer {other_service}", SERVICE_URL) == "bad-aud"


async def test_expired_token_is_refused(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    now = int(time.time())
    token = es384_key.sign(_claims(iat=now - 400, exp=now - 61), jku=url)

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "expired"


async def test_iat_in_the_future_is_refused(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    now = int(time.time())
    token = es384_key.sign(_claims(iat=now + 120, exp=now + 400), jku=url)

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "iat-in-future"


async def test_nbf_in_the_future_is_refused(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    token = es384_key.sign(_claims(nbf=int(time.time()) + 120), jku=url)

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "nbf-in-future"


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": _DROP},
        {"iat": _DROP},
        {"jti": _DROP},
        {"jti": ""},
        {"jti": 7},
        {"jti": "x" * 257},
        {"exp": "tomorrow"},
        {"iat": True},
        {"nbf": None},
        {"tenant": 3},
    ],
    ids=repr,
)
async def test_missing_or_mistyped_claims_are_refused(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey, overrides: dict
) -> None:
    client, url = es_client
    token = es384_key.sign(_claims(**overrides), jku=url)

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "bad-claims"


async def test_a_lifetime_beyond_the_maximum_is_refused(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    now = int(time.time())
    token = es384_key.sign(_claims(iat=now, exp=now + 3601), jku=url)

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "lifetime-too-long"


async def test_a_replayed_jti_is_refused(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    authenticator = make(client)
    token = es384_key.sign(_claims(), jku=url)
    await authenticator.authenticate(f"Bearer {token}", SERVICE_URL)

    assert await _refused(authenticator, f"Bearer {token}", SERVICE_URL) == "replayed-jti"
    # A fresh signature over the same jti is a replay too.
    again = es384_key.sign(
        _claims(jti=jwt.decode(token, options={"verify_signature": False})["jti"])
    )
    assert await _refused(authenticator, f"Bearer {again}", SERVICE_URL) == "replayed-jti"


@pytest.mark.integration
async def test_a_jti_replayed_to_another_replica_sharing_redis_is_refused(
    make: Make,
    es_client: tuple[TrustedClient, str],
    es384_key: SigningKey,
    redis_url: str,
    redis_prefix: str,
) -> None:
    client, url = es_client
    replica_a = make(client, replay=RedisReplayCache.from_url(redis_url, redis_prefix))
    replica_b = make(client, replay=RedisReplayCache.from_url(redis_url, redis_prefix))
    token = es384_key.sign(_claims(), jku=url)

    await replica_a.authenticate(f"Bearer {token}", SERVICE_URL)

    assert await _refused(replica_b, f"Bearer {token}", SERVICE_URL) == "replayed-jti"


async def test_an_unknown_kid_is_refused_after_one_refresh(
    make: Make,
    es_client: tuple[TrustedClient, str],
    es384_key: SigningKey,
    other_es384_key: SigningKey,
    jwks_server: JwksServer,
) -> None:
    client, url = es_client
    authenticator = make(client)
    await authenticator.authenticate(f"Bearer {es384_key.sign(_claims(), jku=url)}", SERVICE_URL)
    assert jwks_server.hits_of(url) == 1

    forged = other_es384_key.sign(_claims(), jku=url)

    # The first fetch is less than the refresh interval old, so nothing is fetched again.
    assert await _refused(authenticator, f"Bearer {forged}", SERVICE_URL) == "unknown-kid"
    assert jwks_server.hits_of(url) == 1


async def test_an_unknown_kid_on_a_fresh_cache_costs_exactly_one_fetch(
    make: Make,
    es_client: tuple[TrustedClient, str],
    other_es384_key: SigningKey,
    jwks_server: JwksServer,
) -> None:
    client, url = es_client
    authenticator = make(
        client,
    )
    forged = other_es384_key.sign(_claims(), jku=url)

    for _ in range(3):
        assert await _refused(authenticator, f"Bearer {forged}", SERVICE_URL) == "unknown-kid"
    assert jwks_server.hits_of(url) == 1


async def test_a_key_rotated_in_at_the_jku_is_found_by_the_refresh(
    http: httpx.AsyncClient,
    es384_key: SigningKey,
    rs384_key: SigningKey,
    jwks_server: JwksServer,
) -> None:
    url = jwks_server.publish(jwks_of(es384_key))
    jwks = JwksCache(http, ttl=300, timeout=2.0, max_bytes=65_536, refresh_interval=0)
    authenticator = ClientAuthenticator(
        {ISS: TrustedClient(iss=ISS, jku=frozenset({url}))}, jwks, MemoryReplayCache()
    )
    await authenticator.authenticate(f"Bearer {es384_key.sign(_claims(), jku=url)}", SERVICE_URL)

    jwks_server.publish(jwks_of(es384_key, rs384_key), name=url.rsplit("/", 1)[-1])
    identity = await authenticator.authenticate(
        f"Bearer {rs384_key.sign(_claims(), jku=url)}", SERVICE_URL
    )

    assert identity.iss == ISS
    assert jwks_server.hits_of(url) == 2


async def test_an_untrusted_jku_is_refused_without_any_request_to_it(
    http: httpx.AsyncClient,
    es_client: tuple[TrustedClient, str],
    other_es384_key: SigningKey,
    jwks_server: JwksServer,
) -> None:
    client, _ = es_client
    # The attacker hosts a real JWKS with their own key, on the same host as the trusted one.
    evil = jwks_server.publish(jwks_of(other_es384_key))
    transport = RecordingTransport(forward=False)
    async with httpx.AsyncClient(transport=transport) as refusing_http:
        authenticator = ClientAuthenticator(
            {ISS: client}, JwksCache(refusing_http), MemoryReplayCache()
        )
        for jku in (evil, evil.upper(), _with_query(es_client[1]), 42):
            token = other_es384_key.sign(_claims(), jku=jku)
            assert await _refused(authenticator, f"Bearer {token}", SERVICE_URL) == "untrusted-jku"

    assert transport.requests == []
    assert jwks_server.hits_of(evil) == 0


def _with_query(url: str) -> str:
    """The trusted URL with a query appended: not the allowlisted string, so not trusted."""
    return url + "?k=attacker"


async def test_a_jku_is_refused_for_a_client_with_only_static_keys(
    make: Make, transport: RecordingTransport, es384_key: SigningKey, jwks_server: JwksServer
) -> None:
    client = TrustedClient(iss=ISS, keys={es384_key.kid: es384_key.public_jwk})
    url = jwks_server.publish(jwks_of(es384_key))
    token = es384_key.sign(_claims(), jku=url)

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "untrusted-jku"
    assert transport.requests == []


async def test_an_untrusted_iss_is_refused_without_any_request(
    make: Make,
    es_client: tuple[TrustedClient, str],
    other_es384_key: SigningKey,
    transport: RecordingTransport,
    jwks_server: JwksServer,
) -> None:
    client, _ = es_client
    evil = jwks_server.publish(jwks_of(other_es384_key))
    authenticator = make(client)
    header = {"alg": "ES384", "typ": "JWT", "kid": other_es384_key.kid, "jku": evil}
    for iss in ("https://evil.example", ISS + "/", ISS.upper(), _DROP, ["x"], None):
        # Hand-made: PyJWT will not sign a non-string iss, and these fail before the signature.
        token = _unsigned(header, _claims(iss=iss), b"\x00" * 96)
        assert await _refused(authenticator, f"Bearer {token}", SERVICE_URL) == "untrusted-iss"

    assert transport.requests == []
    assert jwks_server.hits_of(evil) == 0


@pytest.mark.parametrize("tenant", ["site-c", _DROP], ids=["other-tenant", "no-tenant"])
async def test_a_tenant_not_allowed_is_refused(
    make: Make, es384_key: SigningKey, tenant: Any
) -> None:
    client = TrustedClient(
        iss=ISS, keys={es384_key.kid: es384_key.public_jwk}, tenants=frozenset({"site-a"})
    )
    authenticator = make(client)
    token = es384_key.sign(_claims(tenant=tenant))

    assert await _refused(authenticator, f"Bearer {token}", SERVICE_URL) == "tenant-not-allowed"
    allowed = es384_key.sign(_claims(tenant="site-a"))
    assert (await authenticator.authenticate(f"Bearer {allowed}", SERVICE_URL)).tenant == "site-a"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "a.b",
        "....",
        "eyJhbGciOiJFUzM4NCJ9.!!!.sig",
        _unsigned({"alg": "ES384"}, {"iss": ISS})[:-1] + "%%%",
        f"{_b64(b'[1, 2]')}.{_b64(b'{}')}.",
        f"{_b64(json.dumps({'alg': 'ES384', 'typ': 'JWT', 'kid': 'k'}).encode())}.{_b64(b'[1]')}.",
        "x" * 10_000,
    ],
    ids=lambda token: token[:24],
)
async def test_a_garbage_token_is_refused(
    make: Make, es_client: tuple[TrustedClient, str], token: str
) -> None:
    assert await _refused(make(es_client[0]), f"Bearer {token}", SERVICE_URL) == "malformed-token"


# --- Refused: header, key and signature -------------------------------------------------------


async def test_an_algorithm_not_allowed_for_the_issuer_is_refused(
    make: Make, rs384_key: SigningKey
) -> None:
    client = TrustedClient(
        iss=ISS, algorithms=frozenset({"ES384"}), keys={rs384_key.kid: rs384_key.public_jwk}
    )
    token = rs384_key.sign(_claims())

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "alg-not-allowed"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"kid": "KID", "typ": "JWS"}, "bad-typ"),
        ({"kid": "KID", "typ": None}, "bad-typ"),
        ({}, "missing-kid"),
        ({"kid": ""}, "missing-kid"),
    ],
    ids=repr,
)
async def test_a_header_without_typ_jwt_or_kid_is_refused(
    make: Make, es384_key: SigningKey, header: dict[str, Any], reason: str
) -> None:
    client = TrustedClient(iss=ISS, keys={es384_key.kid: es384_key.public_jwk})
    header = {name: es384_key.kid if value == "KID" else value for name, value in header.items()}
    token = jwt.encode(_claims(), es384_key.private, algorithm="ES384", headers=header)

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == reason


async def test_a_signature_by_another_key_under_a_trusted_kid_is_refused(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    impostor = SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", es384_key.kid)

    token = impostor.sign(_claims(), jku=url)

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "bad-signature"


async def test_a_tampered_payload_is_refused_and_does_not_spend_the_jti(
    make: Make, es_client: tuple[TrustedClient, str], es384_key: SigningKey
) -> None:
    client, url = es_client
    authenticator = make(client)
    claims = _claims()
    header, _, signature = es384_key.sign(claims, jku=url).split(".")
    tampered = f"{header}.{_b64(json.dumps({**claims, 'tenant': 'x'}).encode())}.{signature}"

    assert await _refused(authenticator, f"Bearer {tampered}", SERVICE_URL) == "bad-signature"
    genuine = es384_key.sign(claims, jku=url)
    assert (await authenticator.authenticate(f"Bearer {genuine}", SERVICE_URL)).jti == claims["jti"]


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
@pytest.mark.parametrize(
    "change",
    [
        "signature cut short",
        "signature empty",
        "signature one byte longer",
        "signature of another token",
        "header re-encoded",
        "header changed after signing",
    ],
)
async def test_a_signature_that_does_not_cover_the_token_as_sent_is_refused(
    make: Make,
    es384_key: SigningKey,
    rs384_key: SigningKey,
    alg: str,
    change: str,
) -> None:
    """The token is decoded once, and its signature checked against the bytes it arrived as."""
    key = es384_key if alg == "ES384" else rs384_key
    client = TrustedClient(iss=ISS, keys={key.kid: key.public_jwk}, algorithms=frozenset({alg}))
    authenticator = make(client)
    claims = _claims()
    header, payload, signature = key.sign(claims).split(".")
    other_signature = key.sign(_claims(sub="someone-else")).split(".")[2]
    raw = base64.urlsafe_b64decode(signature + "==")
    decoded_header = json.loads(base64.urlsafe_b64decode(header + "=="))
    tampered = {
        "signature cut short": (header, payload, _b64(raw[:-1])),
        "signature empty": (header, payload, ""),
        "signature one byte longer": (header, payload, _b64(raw + b"\x00")),
        "signature of another token": (header, payload, other_signature),
        # The same header, serialised otherwise: the signature covers the bytes, not the JSON.
        "header re-encoded": (
            _b64(
                json.dumps(json.loads(base64.urlsafe_b64decode(header + "==")), indent=1).encode()
            ),
            payload,
            signature,
        ),
        # A change every check before the signature accepts (typ is compared in any case).
        "header changed after signing": (
            _b64(json.dumps({**decoded_header, "typ": "jwt"}).encode()),
            payload,
            signature,
        ),
    }[change]

    assert await _refused(authenticator, "Bearer " + ".".join(tampered), SERVICE_URL) == (
        "bad-signature"
    )
    # Nothing was spent: the genuine token passes after it.
    genuine = f"{header}.{payload}.{signature}"
    assert (await authenticator.authenticate(f"Bearer {genuine}", SERVICE_URL)).jti == claims["jti"]


async def test_a_key_of_the_wrong_curve_for_the_algorithm_is_refused(
    make: Make, jwks_server: JwksServer
) -> None:
    p256 = SigningKey(ec.generate_private_key(ec.SECP256R1()), "ES256", "p256")
    wrong = {**p256.public_jwk, "alg": "ES384"}
    url = jwks_server.publish({"keys": [wrong]})
    client = TrustedClient(iss=ISS, jku=frozenset({url}))
    header = {"alg": "ES384", "typ": "JWT", "kid": "p256", "jku": url}
    token = _unsigned(header, _claims(), b"\x00" * 96)

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "bad-key"


async def test_a_short_rsa_key_is_refused(make: Make, jwks_server: JwksServer) -> None:
    weak = SigningKey(rsa.generate_private_key(65537, 1024), "RS384", "weak")
    url = jwks_server.publish(jwks_of(weak))
    client = TrustedClient(iss=ISS, jku=frozenset({url}))
    with pytest.warns(jwt.InsecureKeyLengthWarning):
        token = weak.sign(_claims(), jku=url)

    assert await _refused(make(client), f"Bearer {token}", SERVICE_URL) == "bad-key"


async def test_an_unreachable_jwks_is_refused_as_unavailable(
    make: Make, jwks_server: JwksServer, es384_key: SigningKey
) -> None:
    url = jwks_server.publish(b"", status=502)
    token = es384_key.sign(_claims(), jku=url)

    reason = await _refused(
        make(TrustedClient(iss=ISS, jku=frozenset({url}))), f"Bearer {token}", SERVICE_URL
    )

    assert reason == "jwks-unavailable"


# --- The log -----------------------------------------------------------------------------------


async def test_a_refusal_logs_iss_tenant_jti_and_reason_but_never_the_token(
    make: Make,
    es_client: tuple[TrustedClient, str],
    es384_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, url = es_client
    token = es384_key.sign(_claims(aud=DISCOVERY_URL, tenant="site\nforged"), jku=url)

    with caplog.at_level(logging.WARNING, logger="cds_service.auth"):
        await _refused(make(client), f"Bearer {token}", SERVICE_URL)

    [record] = [r for r in caplog.records if r.name == "cds_service.auth.client_authenticator"]
    message = record.getMessage()
    assert "reason=bad-aud" in message and ISS in message
    assert jwt.decode(token, options={"verify_signature": False})["jti"] in message
    assert "\n" not in message  # a claim cannot forge a log line
    assert token not in caplog.text and token.split(".")[2] not in caplog.text
    assert record.auth_reason == "bad-aud"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(authorization=st.one_of(st.text(max_size=300), st.text(max_size=300).map("Bearer ".__add__)))
async def test_any_header_value_is_either_refused_or_accepted_never_an_error(
    make: Make, es_client: tuple[TrustedClient, str], authorization: str
) -> None:
    with pytest.raises(AuthenticationFailed):
        await make(es_client[0]).authenticate(authorization, SERVICE_URL)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.fixed_dictionaries(
        {},
        optional={
            "alg": st.sampled_from(["ES384", "RS384"]) | _json,
            "typ": st.just("JWT") | _json,
            "kid": st.text(max_size=8) | _json,
            "jku": _json,
            "crit": _json,
            "b64": _json,
        },
    ),
    claims=st.fixed_dictionaries(
        {},
        optional={
            "iss": st.just(ISS) | _json,
            "aud": st.just(SERVICE_URL) | _json,
            "exp": _json,
            "iat": _json,
            "nbf": _json,
            "jti": _json,
            "tenant": _json,
            "sub": _json,
        },
    ),
)
async def test_any_json_header_and_claims_are_refused_never_an_error(
    make: Make,
    es384_key: SigningKey,
    header: dict[str, Any],
    claims: dict[str, Any],
) -> None:
    client = TrustedClient(iss=ISS, keys={es384_key.kid: es384_key.public_jwk})
    token = _unsigned(header, claims, b"\x01" * 96)

    with pytest.raises(AuthenticationFailed):
        await make(client).authenticate(f"Bearer {token}", SERVICE_URL)


# --- Construction from settings --------------------------------------------------------------


async def test_from_settings_reads_the_trust_file_and_shares_replays_through_redis(
    tmp_path: Path,
    transport: RecordingTransport,
    es384_key: SigningKey,
    redis_url: str,
    redis_prefix: str,
) -> None:
    trust = tmp_path / "trusted-clients.json"
    trust.write_text(json.dumps({"clients": [{"iss": ISS, "jwks": jwks_of(es384_key)}]}))
    config = Settings(trusted_clients_file=trust, redis_url=redis_url, jti_key_prefix=redis_prefix)
    token = es384_key.sign(_claims())
    async with (
        ClientAuthenticator.from_settings(config, transport) as first,
        ClientAuthenticator.from_settings(config, transport) as second,
    ):
        await first.authenticate(f"Bearer {token}", SERVICE_URL)
        assert await _refused(second, f"Bearer {token}", SERVICE_URL) == "replayed-jti"
    assert transport.requests == []  # the keys were in the trust file


async def test_from_settings_fetches_through_its_own_client_and_closes_it_on_the_way_out(
    tmp_path: Path,
    transport: RecordingTransport,
    es_client: tuple[TrustedClient, str],
    es384_key: SigningKey,
) -> None:
    _, url = es_client
    trust = tmp_path / "trusted-clients.json"
    trust.write_text(json.dumps({"clients": [{"iss": ISS, "jku": [url]}]}))
    settings = Settings(trusted_clients_file=trust)

    async with ClientAuthenticator.from_settings(settings, transport) as authenticator:
        token = es384_key.sign(_claims(), jku=url)
        assert (await authenticator.authenticate(f"Bearer {token}", SERVICE_URL)).iss == ISS
        assert not transport.closed

    assert transport.requests == [url] and transport.closed


class _UnopenableReplayCache(MemoryReplayCache):
    """A replay cache whose store cannot be reached when it opens."""

    async def _open(self) -> None:
        raise ConnectionError("the replay cache's store is down")


async def test_a_replay_cache_that_fails_to_open_closes_the_jwks_client_opened_before_it() -> None:
    transport = RecordingTransport(forward=False)
    jwks = JwksCache(httpx.AsyncClient(transport=transport))
    authenticator = ClientAuthenticator({}, jwks, _UnopenableReplayCache())

    with pytest.raises(ConnectionError):
        async with authenticator:
            pytest.fail("an authenticator without its replay cache must not open")

    assert transport.closed


async def test_from_settings_without_a_trust_file_refuses_every_token(
    transport: RecordingTransport, es384_key: SigningKey
) -> None:
    token = es384_key.sign(_claims())

    settings = Settings(trusted_clients_file=None)
    async with ClientAuthenticator.from_settings(settings, transport) as authenticator:
        assert await _refused(authenticator, f"Bearer {token}", SERVICE_URL) == "untrusted-iss"


def test_from_settings_names_the_file_of_a_bad_trust_file(tmp_path: Path) -> None:
    trust = tmp_path / "broken.json"
    trust.write_text(
        json.dumps({"clients": [{"iss": ISS, "jku": ["https://x"], "algorithms": ["HS256"]}]})
    )

    with pytest.raises(TrustFileError, match=r"broken\.json.*HS256"):
        ClientAuthenticator.from_settings(Settings(trusted_clients_file=trust))
