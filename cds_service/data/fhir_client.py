"""Reads from the EHR's FHIR server: bounded in size and time, no redirects, token never logged."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from cds_service.data.fhir_server_policy import FhirServerPolicy
from cds_service.data.response_body import ACCEPT_GZIP, BodyRefused, read_bounded
from cds_service.errors import UntrustedFhirServer
from cds_service.lifecycle import AsyncResource

_ACCEPT = "application/fhir+json, application/json;q=0.9"


class FetchFailed(Exception):
    """A FHIR read or search that gave no usable answer; ``reason`` is free of patient data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FhirClient(AsyncResource):
    """One shared, pooled ``httpx.AsyncClient`` with Radix's fetch rules around it.

    The FHIR client owns ``http``: ``async with`` opens it and leaving (or ``aclose``) closes
    it, as an httpx client opens and closes the transport it was given.
    """

    def __init__(
        self, http: httpx.AsyncClient, policy: FhirServerPolicy, max_response_bytes: int
    ) -> None:
        self._http = http
        self._policy = policy
        self._max_bytes = max_response_bytes

    async def _open(self) -> None:
        await self._http.__aenter__()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        """True once closed: no request can be sent any more (``httpx.AsyncClient.is_closed``)."""
        return self._http.is_closed

    async def get(self, url: str, access_token: str | None) -> dict[str, Any] | None:
        """GET a FHIR URL; ``None`` when the server says the resource does not exist (404/410)."""
        try:
            await self._policy.check(url)
        except UntrustedFhirServer as exc:
            raise FetchFailed(f"refused: {exc.reason}") from None
        # One coding Radix decodes itself, with the decoded size capped (response_body.py).
        headers = {"Accept": _ACCEPT, "Accept-Encoding": ACCEPT_GZIP}
        if access_token:
            headers["Authorization"] = f"Bearer {access_token}"
        try:
            async with self._http.stream(
                "GET", url, headers=headers, follow_redirects=False
            ) as response:
                if response.is_redirect:
                    raise FetchFailed(f"redirect ({response.status_code}) not followed")
                if response.status_code in (404, 410):
                    return None
                if response.status_code >= 400:
                    raise FetchFailed(f"HTTP {response.status_code}")
                body = await read_bounded(response, self._max_bytes)
        except BodyRefused as exc:
            raise FetchFailed(exc.reason) from None
        except UntrustedFhirServer as exc:
            # The guarded transport re-resolved the name and got an address the policy refuses.
            raise FetchFailed(f"refused: {exc.reason}") from None
        except httpx.TimeoutException:
            raise FetchFailed("timed out") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(f"transport error ({type(exc).__name__})") from None
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise FetchFailed("response is not valid JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
            raise FetchFailed("response is not a FHIR resource")
        return doc
