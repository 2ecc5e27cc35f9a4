"""Hostile input over real HTTP: SSRF, input limits, rate limiting and CDS client authentication.

SSRF tests inject a transport that records and refuses every request, so no packet can leave
even if the code under test were wrong; the redirect test uses the real guarded transport
between two loopback servers.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from cds_service.app import create_app
from tests.app.test_application import CASES, _settings, hook_request
from tests.auth.conftest import SigningKey, write_trust_file
from tests.live_server import free_port, serve

SERVICE = "/cds-services/radix-lumbar-radiculopathy"
FEEDBACK = f"{SERVICE}/feedback"
PUBLIC = "https://radix.example.org"
ISS = "https://ehr.example.org/fhir"
EHR_TOKEN = "ehr-access-token-4f9a1c"


class RecordingTransport(httpx.AsyncBaseTransport):
    """Sees every outbound request the app makes and lets none of them out."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        raise httpx.ConnectError("no outbound request is allowed in this test", request=request)


def _outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["diagnostics"]
    return body["issue"][0]


def _fallback_request(fhir_server: str) -> dict[str, Any]:
    """A patient-view call whose essential data must be fetched from ``fhir_server``."""
    body = hook_request(
        CASES["ces-retention"],
        fhirServer=fhir_server,
        fhirAuthorization={
            "access_token": EHR_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "radix",
        },
    )
    del body["prefetch"]
    return body


# --- SSRF: fhirServer pointing where Radix must never fetch ---------------------------------


@pytest.fixture
async def strict(tmp_path) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingTransport]]:
    """Radix with loopback and private FHIR servers forbidden (the production default)."""
    transport = RecordingTransport()
    app = create_app(_settings(tmp_path, fhir_allow_loopback=False), http_transport=transport)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client, transport


@pytest.mark.parametrize(
    "fhir_server",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/fhir",
        "http://[::ffff:169.254.169.254]/fhir",
        "http://100.100.100.200/fhir",
        "http://localhost:8080/fhir",
        "http://127.0.0.1:8080/fhir",
        "http://[::1]/fhir",
        "http://10.1.2.3/fhir",
        "http://192.168.0.10/fhir",
        "http://0.0.0.0/fhir",
    ],
)
async def test_a_forbidden_fhir_server_is_never_fetched(strict, fhir_server):
    client, transport = strict
    issue = _outcome(await client.post(SERVICE, json=_fallback_request(fhir_server)), 412)
    assert "refused" in issue["diagnostics"] and EHR_TOKEN not in issue["diagnostics"]
    assert transport.urls == []


@pytest.mark.parametrize(
    "fhir_server",
    ["file:///etc/passwd", "gopher://ehr.example.org/", "https://u:pw@ehr.example.org/fhir"],
)
async def test_a_fhir_server_that_is_not_an_http_url_is_a_400(strict, fhir_server):
    client, transport = strict
    issue = _outcome(await client.post(SERVICE, json=_fallback_request(fhir_server)), 400)
    assert "fhirServer" in issue["diagnostics"]
    assert transport.urls == []


async def test_a_next_link_to_another_host_is_not_followed(strict):
    client, transport = strict
    body = hook_request(CASES["ces-retention"], fhirServer="https://ehr.example/f")
    body["prefetch"]["procedures"]["link"] = [
        {"relation": "next", "url": "http://169.254.169.254/latest/meta-data"}
    ]
    response = await client.post(SERVICE, json=body)
    assert response.status_code == 200, response.text
    assert transport.urls == []


class _Redirector:
    """Answers every FHIR query with a redirect to ``target``; counts what it is asked."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.hits = 0

    def app(self) -> Starlette:
        async def anything(request: Request) -> Response:
            self.hits += 1
            return RedirectResponse(self.target, status_code=302)

        return Starlette(routes=[Route("/fhir/{rest:path}", anything)])


async def test_a_redirecting_fhir_server_is_not_followed(tmp_path):
    landed: list[str] = []

    async def land(request: Request) -> Response:
        landed.append(request.url.path)
        return JSONResponse({"resourceType": "Patient", "id": "ces-retention-pat"})

    target_port = free_port()
    redirector = _Redirector(f"http://127.0.0.1:{target_port}/fhir/Patient/ces-retention-pat")
    app = create_app(_settings(tmp_path))  # the real guarded transport; loopback allowed
    async with (
        serve(Starlette(routes=[Route("/fhir/{rest:path}", land)]), target_port),
        serve(redirector.app()) as redirecting,
        serve(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
    ):
        response = await client.post(SERVICE, json=_fallback_request(f"{redirecting}/fhir"))
    issue = _outcome(response, 412)
    assert "redirect" in issue["diagnostics"]
    assert redirector.hits > 0 and landed == []


# --- Input limits ---------------------------------------------------------------------------


@pytest.fixture
async def limited(tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    settings = _settings(tmp_path, max_json_depth=20, max_prefetch_resources=30, max_draft_orders=2)
    app = create_app(settings, clock=lambda: CASES["ces-retention"].as_of)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": [value]}
    return value


async def test_a_request_nested_too_deeply_is_a_400(limited):
    body = hook_request(CASES["ces-retention"], extension={"deep": _nested(10)})
    issue = _outcome(await limited.post(SERVICE, json=body), 400)
    assert issue["code"] == "structure" and "20" in issue["diagnostics"]
    feedback = {"feedback": [{"card": "c", "outcome": "accepted", "x": _nested(10)}]}
    _outcome(await limited.post(FEEDBACK, json=feedback), 400)


async def test_nesting_deeper_than_the_json_parser_allows_is_a_400_not_a_crash(limited):
    body = b'{"hook": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    headers = {"Content-Type": "application/json"}
    _outcome(await limited.post(SERVICE, content=body, headers=headers), 400)


async def test_too_many_prefetch_resources_is_a_413(limited):
    body = hook_request(CASES["ces-retention"])
    conditions = body["prefetch"]["conditions"]
    conditions["entry"] = (conditions["entry"] * 40)[:31]
    issue = _outcome(await limited.post(SERVICE, json=body), 413)
    assert issue["code"] == "too-costly" and "prefetch" in issue["diagnostics"]


async def test_too_many_draft_orders_is_a_413(limited):
    vignette = next(v for v in CASES.values() if v.hook == "order-sign")
    body = hook_request(vignette)
    order = {"resource": {"resourceType": "ServiceRequest", "id": "sr", "status": "draft"}}
    body["context"]["draftOrders"] = {"resourceType": "Bundle", "entry": [order] * 3}
    issue = _outcome(await limited.post("/cds-services/radix-lumbar-imaging-sign", json=body), 413)
    assert "draftOrders" in issue["diagnostics"]


async def test_a_request_within_every_limit_is_answered(limited):
    body = hook_request(CASES["ces-retention"])
    assert (await limited.post(SERVICE, json=body)).status_code == 200


# --- Rate limiting --------------------------------------------------------------------------


async def test_a_client_over_its_rate_gets_a_429_with_retry_after(tmp_path):
    app = create_app(_settings(tmp_path, rate_limit_per_minute=6, rate_limit_burst=3))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(3):
            assert (await client.get("/cds-services")).status_code == 200
        refused = await client.post(SERVICE, json={})
        issue = _outcome(refused, 429)
        assert issue["code"] == "throttled"
        assert 1 <= int(refused.headers["retry-after"]) <= 10
        _outcome(await client.post(FEEDBACK, json={}), 429)
        # Health and the API description are not CDS calls and are never limited.
        assert (await client.get("/livez")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200


async def test_rate_limiting_can_be_turned_off(tmp_path):
    app = create_app(_settings(tmp_path, rate_limit_per_minute=0, rate_limit_burst=1))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        statuses = {(await client.get("/cds-services")).status_code for _ in range(30)}
    assert statuses == {200}


# --- CDS client authentication over HTTP ----------------------------------------------------


@pytest.fixture(scope="module")
def client_key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "ehr-" + uuid.uuid4().hex)


@pytest.fixture
def trust_file(tmp_path, client_key) -> Path:
    return write_trust_file(tmp_path, ISS, client_key, ["site-a", "site-b"])


def _token(key: SigningKey, path: str, *, base: str = PUBLIC, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISS,
        "aud": base + path,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "tenant": "site-a",
        **claims,
    }
    return key.sign(body, typ="JWT")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def guarded(tmp_path, trust_file) -> AsyncIterator[httpx.AsyncClient]:
    settings = _settings(
        tmp_path,
        auth_required=True,
        trusted_clients_file=trust_file,
        public_base_url=PUBLIC,
        rate_limit_per_minute=60,
        rate_limit_burst=3,
    )
    app = create_app(settings, clock=lambda: CASES["ces-retention"].as_of)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


async def test_a_valid_token_is_served_on_every_cds_route(guarded, client_key):
    body = hook_request(CASES["ces-retention"])
    call = await guarded.post(SERVICE, json=body, headers=_bearer(_token(client_key, SERVICE)))
    assert call.status_code == 200, call.text
    discovery = await guarded.get(
        "/cds-services", headers=_bearer(_token(client_key, "/cds-services", tenant="site-b"))
    )
    assert discovery.status_code == 200
    card = call.json()["cards"][0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-20T10:00:00Z",
            }
        ]
    }
    stored = await guarded.post(
        FEEDBACK, json=feedback, headers=_bearer(_token(client_key, FEEDBACK, tenant="site-b"))
    )
    assert stored.status_code == 200 and stored.json()["stored"] == 1


def _refusals(key: SigningKey, path: str) -> dict[str, dict[str, str]]:
    stranger = SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", key.kid)
    return {
        "no header": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwdw=="},
        "garbage": _bearer("not.a.jwt"),
        "expired": _bearer(
            _token(key, path, iat=int(time.time()) - 900, exp=int(time.time()) - 600)
        ),
        "other tenant": _bearer(_token(key, path, tenant="site-z")),
        "forged signature": _bearer(_token(stranger, path)),
        "aud of another route": _bearer(_token(key, "/cds-services")),
    }


@pytest.mark.parametrize("route", [SERVICE, FEEDBACK, "/cds-services"])
async def test_every_refusal_is_the_same_bare_401(guarded, client_key, route):
    bodies = set()
    for name, headers in _refusals(
        client_key, route if route != "/cds-services" else SERVICE
    ).items():
        if route == "/cds-services":
            if name == "aud of another route":
                headers = _bearer(_token(client_key, SERVICE))
            response = await guarded.get(route, headers=headers)
        else:
            response = await guarded.post(route, json={}, headers=headers)
        issue = _outcome(response, 401)
        assert response.headers["www-authenticate"] == "Bearer", name
        assert issue["diagnostics"] == "Authentication failed.", name
        bodies.add(response.text)
    assert len(bodies) == 1  # nothing tells one failure from another


async def test_aud_comes_from_the_public_base_url_never_the_host_header(guarded, client_key):
    body = hook_request(CASES["ces-retention"])
    # A token minted for the Host the attacker sends is refused...
    forged = _token(client_key, SERVICE, base="https://evil.example")
    refused = await guarded.post(
        SERVICE, json=body, headers={**_bearer(forged), "Host": "evil.example"}
    )
    _outcome(refused, 401)
    # ...and a token for the public URL passes whatever Host arrives.
    honest = _token(client_key, SERVICE)
    accepted = await guarded.post(
        SERVICE, json=body, headers={**_bearer(honest), "Host": "evil.example"}
    )
    assert accepted.status_code == 200, accepted.text


async def test_a_refusal_is_logged_with_iss_jti_and_reason_but_never_the_token(
    guarded, client_key, caplog
):
    caplog.set_level(logging.DEBUG)
    jti = "jti-" + uuid.uuid4().hex
    token = _token(client_key, SERVICE, tenant="site-z", jti=jti)
    _outcome(await guarded.post(SERVICE, json={}, headers=_bearer(token)), 401)
    refusals = [r for r in caplog.records if getattr(r, "auth_reason", None)]
    assert len(refusals) == 1
    record = refusals[0]
    assert record.auth_reason == "tenant-not-allowed"
    assert ISS in record.iss and jti in record.jti and "site-z" in record.tenant
    signature = token.rsplit(".", 1)[1]
    for logged in caplog.records:
        text = logged.getMessage() + json.dumps(vars(logged), default=str)
        assert token not in text and signature not in text


async def test_authenticated_clients_are_rate_limited_per_tenant(guarded, client_key):
    def call(tenant: str):
        return guarded.get(
            "/cds-services", headers=_bearer(_token(client_key, "/cds-services", tenant=tenant))
        )

    for _ in range(3):
        assert (await call("site-a")).status_code == 200
    _outcome(await call("site-a"), 429)
    assert (await call("site-b")).status_code == 200


async def test_a_token_replayed_to_another_replica_sharing_redis_is_refused(
    tmp_path, trust_file, client_key, redis_url
):
    """Two app instances (replicas) behind one Redis: a jti spent on one is spent on both."""
    prefix = f"radix:test:{uuid.uuid4().hex}:"
    replicas = [
        create_app(
            _settings(
                tmp_path / name,
                auth_required=True,
                trusted_clients_file=trust_file,
                public_base_url=PUBLIC,
                redis_url=redis_url,
                jti_key_prefix=prefix,
            ),
            clock=lambda: CASES["ces-retention"].as_of,
        )
        for name in ("a", "b")
    ]
    token = _token(client_key, SERVICE)
    body = hook_request(CASES["ces-retention"])
    async with (
        serve(replicas[0]) as url_a,
        serve(replicas[1]) as url_b,
        httpx.AsyncClient(timeout=10) as client,
    ):
        first = await client.post(url_a + SERVICE, json=body, headers=_bearer(token))
        replayed = await client.post(url_b + SERVICE, json=body, headers=_bearer(token))
        fresh = await client.post(
            url_b + SERVICE, json=body, headers=_bearer(_token(client_key, SERVICE))
        )
    assert first.status_code == 200 and fresh.status_code == 200
    _outcome(replayed, 401)
    redis = Redis.from_url(redis_url)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    assert len(keys) == 2  # the two spent jtis, shared by both replicas
    await redis.delete(*keys)
    await redis.aclose()


async def test_by_default_both_loopback_names_of_the_port_are_audiences(
    tmp_path, trust_file, client_key
):
    """Unconfigured, the service is its own machine's: 127.0.0.1 and localhost on its port."""
    port = free_port()
    settings = _settings(tmp_path, auth_required=True, trusted_clients_file=trust_file, port=port)
    app = create_app(settings, clock=lambda: CASES["ces-retention"].as_of)
    async with serve(app, port) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        for base in (f"http://127.0.0.1:{port}", f"http://LOCALHOST:{port}/"):
            token = _token(client_key, "/cds-services", base=base.rstrip("/"))
            assert (await client.get("/cds-services", headers=_bearer(token))).status_code == 200
        other_port = _token(client_key, "/cds-services", base=f"http://localhost:{port + 1}")
        _outcome(await client.get("/cds-services", headers=_bearer(other_port)), 401)


async def test_several_configured_public_urls_are_each_an_audience(
    tmp_path, trust_file, client_key
):
    settings = _settings(
        tmp_path,
        auth_required=True,
        trusted_clients_file=trust_file,
        public_base_url=f"{PUBLIC}, https://radix.internal.example.org/cds",
    )
    app = create_app(settings, clock=lambda: CASES["ces-retention"].as_of)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        for base in (PUBLIC, "https://radix.internal.example.org/cds"):
            token = _token(client_key, "/cds-services", base=base)
            assert (await client.get("/cds-services", headers=_bearer(token))).status_code == 200
        elsewhere = _token(client_key, "/cds-services", base="https://evil.example.org")
        _outcome(await client.get("/cds-services", headers=_bearer(elsewhere)), 401)
