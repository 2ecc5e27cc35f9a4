"""An async cache of remote JWK Sets: TTL, one rate-limited refresh, stale keys kept on error.

PyJWKClient is not used: it blocks the event loop, never expires its cache and drops every key
when one refresh fails (ecosystem.md §3).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from cds_service.auth.authentication_failed import AuthenticationFailed
from cds_service.auth.json_web_key import parse_jwks
from cds_service.data import ACCEPT_IDENTITY, BodyRefused, read_bounded
from cds_service.lifecycle import AsyncResource

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Entry:
    keys: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Clock reading of the last successful fetch; None if none has succeeded.
    fetched_at: float | None = None
    #: Clock reading of the last attempt, successful or not.
    attempted_at: float = -math.inf


class _FetchFailed(Exception):
    pass


class JwksCache(AsyncResource):
    """JWK Sets by URL, fetched with ``http`` only for URLs the caller has already allowlisted.

    The cache owns ``http``: ``async with`` opens it and leaving (or ``aclose``) closes it, as
    an httpx client opens and closes the transport it was given.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        ttl: float = 900.0,
        timeout: float = 2.0,
        max_bytes: int = 65_536,
        refresh_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._ttl = ttl
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def _open(self) -> None:
        await self._http.__aenter__()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def find(self, url: str, kid: str) -> Mapping[str, Any] | None:
        """The key ``kid`` of the set at ``url``, or None if it is not there even after a refresh.

        Raises ``AuthenticationFailed("jwks-unavailable")`` if the set was never fetched.
        """
        entry = self._entries.get(url, _Entry())
        refreshed = False
        if self._expired(entry) and self._may_fetch(entry):
            entry, refreshed = await self._refresh(url, entry), True
        if entry.fetched_at is None:
            raise AuthenticationFailed("jwks-unavailable")
        if kid not in entry.keys and not refreshed and self._may_fetch(entry):
            # Key rotation: the client may sign with a key published after our last fetch.
            entry = await self._refresh(url, entry)
        return entry.keys.get(kid)

    def _expired(self, entry: _Entry) -> bool:
        return entry.fetched_at is None or self._clock() - entry.fetched_at >= self._ttl

    def _may_fetch(self, entry: _Entry) -> bool:
        return self._clock() - entry.attempted_at >= self._refresh_interval

    async def _refresh(self, url: str, seen: _Entry) -> _Entry:
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            current = self._entries.get(url, _Entry())
            if current.attempted_at > seen.attempted_at:
                return current  # another request refreshed while this one waited
            attempted_at = self._clock()
            try:
                keys = await self._fetch(url)
            except _FetchFailed as exc:
                logger.warning(
                    "JWKS fetch failed: url=%s problem=%s; %s",
                    url,
                    exc,
                    "keeping the cached keys" if current.fetched_at is not None else "no keys",
                )
                entry = _Entry(current.keys, current.fetched_at, attempted_at)
            else:
                entry = _Entry(keys, attempted_at, attempted_at)
            self._entries[url] = entry
            return entry

    async def _fetch(self, url: str) -> dict[str, dict[str, Any]]:
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._download(url)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise _FetchFailed(f"{type(exc).__name__}: {exc}") from exc
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _FetchFailed("the body is not JSON") from exc
        keys, problems = parse_jwks(document)
        if problems:
            logger.warning("JWKS keys ignored: url=%s problems=%s", url, "; ".join(problems))
        if not keys:
            raise _FetchFailed("no usable key")
        return keys

    async def _download(self, url: str) -> bytes:
        # No redirects: a redirect could lead to a host nobody allowlisted. A JWK Set is small:
        # ask for it uncompressed; a gzip answer anyway is decoded with the same byte cap.
        request = self._http.build_request(
            "GET",
            url,
            headers={"Accept": "application/json", "Accept-Encoding": ACCEPT_IDENTITY},
            timeout=self._timeout,
        )
        response = await self._http.send(request, stream=True, follow_redirects=False)
        try:
            if response.status_code != 200:
                raise _FetchFailed(f"HTTP {response.status_code}")
            return await read_bounded(response, self._max_bytes)
        except BodyRefused as exc:
            raise _FetchFailed(exc.reason) from None
        finally:
            await response.aclose()
