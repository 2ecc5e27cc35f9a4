"""Authentication of CDS clients (EHRs) by the JWT they send (CDS Hooks 2.0 "Trusting CDS Clients").

The checks follow the best-practices validation procedure (cds-hooks/docs ``best-practices.md``):
``iss`` allowlisted, ``aud`` is this endpoint, ``exp`` not passed, ``tenant`` allowlisted, signature
verified with a key on record, ``jti`` not seen before. Nothing is fetched for an untrusted issuer
or ``jku``, and a token spends its ``jti`` only once every other check has passed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import httpx
import jwt

from cds_service import metrics
from cds_service.auth.audience import normalise_audience
from cds_service.auth.authentication_failed import AuthenticationFailed
from cds_service.auth.client_identity import ClientIdentity
from cds_service.auth.json_web_key import ASYMMETRIC_ALGORITHMS, signing_key
from cds_service.auth.jwks_cache import JwksCache
from cds_service.auth.replay_cache import MemoryReplayCache, RedisReplayCache, ReplayCache
from cds_service.auth.trusted_client import TrustedClient, load_trusted_clients
from cds_service.lifecycle import AsyncResource
from cds_service.settings import Settings

logger = logging.getLogger(__name__)

#: Far above any real CDS client JWT (about 1 kB), far below anything that costs to parse.
_MAX_TOKEN_CHARS = 8192
_MAX_JTI_CHARS = 256
_MAX_LOGGED_CHARS = 200


class ClientAuthenticator(AsyncResource):
    """Turns an ``Authorization`` header into a ``ClientIdentity`` or ``AuthenticationFailed``.

    It owns its JWKS cache (and that cache's HTTP client) and its replay cache: leaving
    ``async with`` (or ``aclose``) releases them.
    """

    def __init__(
        self,
        clients: Mapping[str, TrustedClient],
        jwks: JwksCache,
        replay: ReplayCache,
        *,
        leeway: float = 60.0,
        max_lifetime: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clients = dict(clients)
        self._jwks = jwks
        self._replay = replay
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._clock = clock
        self._jws = jwt.PyJWS(options={"enforce_minimum_key_length": True})

    @classmethod
    def from_settings(
        cls, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
    ) -> ClientAuthenticator:
        """Build from settings; raise ``TrustFileError`` if the trust file is unusable.

        ``transport`` carries the JWKS fetches (tests intercept them); by default, the network.
        """
        if settings.trusted_clients_file is None:
            clients: dict[str, TrustedClient] = {}
            logger.warning("No RADIX_TRUSTED_CLIENTS_FILE: every CDS client JWT is refused")
        else:
            clients = load_trusted_clients(settings.trusted_clients_file)
        replay: ReplayCache
        if settings.redis_url:
            replay = RedisReplayCache.from_url(settings.redis_url, settings.jti_key_prefix)
        else:
            replay = MemoryReplayCache(max_entries=settings.replay_cache_max_entries)
        jwks = JwksCache(
            _jwks_http_client(settings.jwks_timeout_seconds, transport),
            ttl=settings.jwks_ttl_seconds,
            timeout=settings.jwks_timeout_seconds,
            max_bytes=settings.jwks_max_bytes,
            refresh_interval=settings.jwks_refresh_interval_seconds,
        )
        return cls(
            clients,
            jwks,
            replay,
            leeway=settings.jwt_leeway_seconds,
            max_lifetime=settings.jwt_max_lifetime_seconds,
        )

    async def authenticate(
        self, authorization: str | None, audience_url: str | Sequence[str]
    ) -> ClientIdentity:
        """Verify the bearer JWT of a call to ``audience_url`` (built from the public base URL;
        several when the service is reachable under several configured names)."""
        claims: Mapping[str, Any] = {}
        try:
            token = _unverified(self._jws, _bearer_token(authorization))
            claims = token.claims
            return await self._verify(token, audience_url)
        except AuthenticationFailed as exc:
            metrics.JWT_REFUSALS.labels(exc.reason).inc()
            # Only these claims are logged: a JWT in a log could be replayed by whoever reads it.
            logger.warning(
                "CDS client refused: reason=%s iss=%s tenant=%s jti=%s",
                exc.reason,
                _loggable(claims.get("iss")),
                _loggable(claims.get("tenant")),
                _loggable(claims.get("jti")),
                extra={
                    "auth_reason": exc.reason,
                    "iss": _loggable(claims.get("iss")),
                    "tenant": _loggable(claims.get("tenant")),
                    "jti": _loggable(claims.get("jti")),
                },
            )
            raise

    @property
    def shared_replay_cache(self) -> bool:
        """True when the replay cache is Redis: then readiness must check it."""
        return self._replay.shared

    async def replay_cache_ready(self) -> bool:
        """Whether the replay cache can answer now; every token is refused while it cannot."""
        return await self._replay.ready()

    async def _open(self) -> None:
        """Open the JWKS cache, then the replay cache; if the second fails, close the first."""
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self._jwks)
            await stack.enter_async_context(self._replay)
            stack.pop_all()  # both open: ``aclose`` closes them from now on

    async def aclose(self) -> None:
        """Release the replay cache's connections, then the JWKS cache's HTTP client."""
        try:
            await self._replay.aclose()
        finally:
            await self._jwks.aclose()

    async def _verify(self, token: _Token, audience_url: str | Sequence[str]) -> ClientIdentity:
        header, claims = token.header, token.claims
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ASYMMETRIC_ALGORITHMS:
            raise AuthenticationFailed("forbidden-alg")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise AuthenticationFailed("bad-typ")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationFailed("missing-kid")
        iss = claims.get("iss")
        client = self._clients.get(iss) if isinstance(iss, str) else None
        if client is None or not isinstance(iss, str):
            raise AuthenticationFailed("untrusted-iss")
        if alg not in client.algorithms:
            raise AuthenticationFailed("alg-not-allowed")
        jku = header.get("jku")
        if jku is not None and (not isinstance(jku, str) or jku not in client.jku):
            raise AuthenticationFailed("untrusted-jku")
        if not _audience_matches(claims.get("aud"), audience_url):
            raise AuthenticationFailed("bad-aud")
        expires_at = self._check_times(claims)
        tenant = claims.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise AuthenticationFailed("bad-claims")
        if client.tenants is not None and tenant not in client.tenants:
            raise AuthenticationFailed("tenant-not-allowed")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI_CHARS:
            raise AuthenticationFailed("bad-claims")
        jwk = await self._key(client, kid, jku)
        _check_signature(token, jwk, alg)
        if not await self._replay.first_use(iss, jti, expires_at):
            raise AuthenticationFailed("replayed-jti")
        sub = claims.get("sub")
        return ClientIdentity(
            iss=iss,
            tenant=tenant,
            jti=jti,
            sub=sub if isinstance(sub, str) else None,
            legacy_system_actions=client.legacy_system_actions,
            tenant_allowlisted=client.tenants is not None,
        )

    def _check_times(self, claims: Mapping[str, Any]) -> float:
        """Check ``exp``, ``iat``, ``nbf``; return when the token stops passing (epoch seconds)."""
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf", 0)
        if not (_is_time(exp) and _is_time(iat) and _is_time(nbf)):
            raise AuthenticationFailed("bad-claims")
        now = self._clock()
        if now >= exp + self._leeway:
            raise AuthenticationFailed("expired")
        if iat > now + self._leeway:
            raise AuthenticationFailed("iat-in-future")
        if nbf > now + self._leeway:
            raise AuthenticationFailed("nbf-in-future")
        # Best practice caps a CDS client JWT at an hour; the cap also bounds the replay cache.
        if exp - iat > self._max_lifetime:
            raise AuthenticationFailed("lifetime-too-long")
        return exp + self._leeway

    async def _key(self, client: TrustedClient, kid: str, jku: str | None) -> Mapping[str, Any]:
        if kid in client.keys:
            return client.keys[kid]
        unavailable = False
        for url in [jku] if jku is not None else sorted(client.jku):
            try:
                jwk = await self._jwks.find(url, kid)
            except AuthenticationFailed:
                unavailable = True
                continue
            if jwk is not None:
                return jwk
        raise AuthenticationFailed("jwks-unavailable" if unavailable else "unknown-kid")


@dataclass(frozen=True, slots=True)
class _Token:
    """A compact JWS read but not yet trusted: its header, its claims, and what was signed."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signed: bytes  # the ASCII of "header.payload", as the signature covers them
    signature: bytes


def _unverified(jws: jwt.PyJWS, token: str) -> _Token:
    """Decode ``token`` once; ``_check_signature`` then checks it against the issuer's key."""
    try:
        decoded = jws.decode_complete(token, options={"verify_signature": False})
        claims = json.loads(decoded["payload"])
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise AuthenticationFailed("malformed-token") from exc
    if not isinstance(claims, dict):
        raise AuthenticationFailed("malformed-token")
    # PyJWS signs and verifies the token's own first two segments: the same bytes here.
    signed = token.encode().rpartition(b".")[0]
    return _Token(decoded["header"], claims, signed, decoded["signature"])


def _check_signature(token: _Token, jwk: Mapping[str, Any], alg: str) -> None:
    """The signature is ``alg``'s with ``jwk``; raise ``AuthenticationFailed`` if not.

    The check ``PyJWS.decode_complete`` ends with, on the segments already decoded rather than
    decoding the token a second time: ``signing_key`` binds the key to ``alg`` (the header's,
    allowed for the issuer) and refuses a key too short for it.
    """
    try:
        key = signing_key(jwk, alg)
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed("bad-key") from exc
    # PyJWT's algorithms answer False for a signature of any length or content, as PyJWS
    # relies on; nothing else here can raise.
    if not key.Algorithm.verify(token.signed, key.key, token.signature):
        raise AuthenticationFailed("bad-signature")


def _jwks_http_client(
    timeout_seconds: float, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    # JWKS URLs are the operator's allowlist, not the caller's choice: no address policy here.
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout_seconds),
        follow_redirects=False,
        trust_env=False,
    )


def _bearer_token(authorization: str | None) -> str:
    if authorization is not None and len(authorization) > _MAX_TOKEN_CHARS + 64:
        # Before any parsing: a header this long is no CDS client JWT.
        raise AuthenticationFailed("malformed-token")
    if authorization is None or not authorization.strip():
        raise AuthenticationFailed("missing-token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthenticationFailed("missing-token")
    token = token.strip()
    if not token:
        raise AuthenticationFailed("missing-token")
    if len(token) > _MAX_TOKEN_CHARS:
        raise AuthenticationFailed("malformed-token")
    return token


def _audience_matches(aud: object, audience_url: str | Sequence[str]) -> bool:
    """``aud`` (a string or an array of strings) names the endpoint that was called."""
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        return False
    urls = [audience_url] if isinstance(audience_url, str) else audience_url
    expected = {normalise_audience(url) for url in urls}
    return any(normalise_audience(a) in expected for a in audiences)


def _is_time(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _loggable(value: object) -> str | None:
    # repr() keeps a hostile claim from forging log lines with newlines or control characters.
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)[:_MAX_LOGGED_CHARS]
    return repr(text[:_MAX_LOGGED_CHARS])
