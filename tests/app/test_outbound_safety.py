"""Outbound safety over real HTTP (issue 10): what a hostile fhirServer can make Radix do.

Radix runs under uvicorn on loopback with its production transport (GuardedTransport, loopback
allowed) against a hostile FHIR server on another loopback port, or, for forbidden addresses,
with a transport that records and refuses everything so no packet can leave.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cds_service.app import create_app
from tests.app.test_application import CASES, _settings, hook_request
from tests.bombs import gzip_of_gzip_of_zeros, gzip_of_zeros
from tests.hostile_server import HostileServer, Reply, hostile_server
from tests.live_server import serve
from tests.memory import peak_rss_growth

SERVICE = "/cds-services/radix-lumbar-radiculopathy"
EHR_TOKEN = "ehr-access-token-9d2e77"
CASE = CASES["ces-retention"]
DEADLINE = 2.0


def _issue(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["issue"][0]["diagnostics"]


def _call(fhir_server: str, *, drop: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The case's call with ``fhirServer``; prefetch keys in ``drop`` (all if None) go missing."""
    authorization = {
        "access_token": EHR_TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "radix",
    }
    body = hook_request(CASE, fhirServer=fhir_server, fhirAuthorization=authorization)
    if drop is None:
        del body["prefetch"]
    for key in drop or ():
        del body["prefetch"][key]
    return body


@pytest.fixture
async def radix(tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(_settings(tmp_path, fhir_deadline_seconds=DEADLINE))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def ehr() -> AsyncIterator[HostileServer]:
    async with hostile_server() as server:
        yield server


# --- 1. Compressed answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, encoding, reason",
    [
        (gzip_of_zeros, "gzip", "response larger than the configured limit"),
        (gzip_of_gzip_of_zeros, "gzip, gzip", "stacked content codings (gzip, gzip) are refused"),
        (gzip_of_zeros, "br", "the content coding 'br' is not supported"),
    ],
    ids=["gzip", "gzip-gzip", "br"],
)
async def test_a_compression_bomb_from_the_fhir_server_is_a_412_in_bounded_time_and_memory(
    radix, ehr, body, encoding, reason
):
    ehr.reply("/fhir/Condition", Reply(body(), {"content-encoding": encoding}, chunk_size=65_536))
    request = _call(f"{ehr.base_url}/fhir", drop=("conditions",))
    started = time.monotonic()
    with peak_rss_growth() as growth:
        response = await radix.post(SERVICE, json=request)
    elapsed = time.monotonic() - started
    assert f"conditions: FHIR server: {reason}" in _issue(response, 412)
    assert elapsed < DEADLINE + 1.5
    assert growth.mib < 100, f"RSS grew by {growth.mib:.0f} MiB"
    assert (await radix.get("/livez")).status_code == 200


# --- 2. next links ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "{fhir}-evil/Procedure?page=2",
        "{fhir}/../../admin/secret",
        "{fhir}/%2e%2e/admin",
        "{fhir}/..%2fadmin",
    ],
)
@pytest.mark.parametrize("key", ["procedures", "conditions"])
async def test_a_next_link_off_the_fhir_server_gets_no_request(radix, ehr, link, key):
    body = _call(f"{ehr.base_url}/fhir", drop=())
    body["prefetch"][key]["link"] = [
        {"relation": "next", "url": link.format(fhir=f"{ehr.base_url}/fhir")}
    ]
    response = await radix.post(SERVICE, json=body)
    if key == "conditions":  # essential: no advice on part of it
        assert "a next link outside the FHIR server was not followed" in _issue(response, 412)
    else:
        assert response.status_code == 200, response.text
    assert ehr.seen == []  # no request at all, so the token went nowhere


# --- 5 (data). Resources fetched count against the prefetch limit ----------------------------


@pytest.mark.integration
async def test_fetched_resources_over_the_limit_are_a_412_not_advice(tmp_path, fhir_server):
    extra = [
        {
            "resourceType": "Observation",
            "id": f"ces-retention-extra{n}",
            "status": "final",
            "subject": {"reference": "Patient/ces-retention-pat"},
            "code": {"text": "pain score"},
            "valueInteger": n % 10,
        }
        for n in range(60)
    ]
    fhir_server.reset()
    fhir_server.clear_faults()
    fhir_server.require_token(None)
    fhir_server.load([*CASE.resources, *extra])
    app = create_app(
        _settings(tmp_path, fhir_deadline_seconds=15.0, max_prefetch_resources=40),
        clock=lambda: CASE.as_of,
    )
    try:
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as c:
            limited = await c.post(SERVICE, json=_call(fhir_server.base_url))
    finally:
        fhir_server.reset()
    assert "observations: only partly read (more than 40 resources" in _issue(limited, 412)
    assert "RADIX_MAX_PREFETCH_RESOURCES" in _issue(limited, 412)


# --- 7. Forbidden addresses ------------------------------------------------------------------


class RecordingTransport(httpx.AsyncBaseTransport):
    """Sees every outbound request the app makes and lets none of them out."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        raise httpx.ConnectError("no outbound request is allowed in this test", request=request)


@pytest.mark.parametrize(
    "url",
    [
        "http://100.64.0.1/fhir",
        "http://100.127.255.254/fhir",
        "http://168.63.129.16/fhir",
        "http://[fec0::1]/fhir",
        "http://[2002:a9fe:a9fe::1]/fhir",
        "http://[64:ff9b::a9fe:a9fe]/fhir",
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/fhir",
        "http://[::ffff:10.0.0.1]/fhir",
        "http://192.0.0.8/fhir",
        "http://198.18.0.1/fhir",
        "http://240.0.0.1/fhir",
        "http://0.0.0.0/fhir",
    ],
)
async def test_a_fhir_server_outside_the_global_internet_is_never_fetched(tmp_path, url):
    transport = RecordingTransport()
    app = create_app(_settings(tmp_path, fhir_allow_loopback=False), http_transport=transport)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await client.post(SERVICE, json=_call(url))
    diagnostics = _issue(response, 412)
    assert "refused" in diagnostics and EHR_TOKEN not in diagnostics
    assert transport.urls == []
