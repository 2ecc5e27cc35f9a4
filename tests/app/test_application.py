"""The service over real HTTP (uvicorn on a free loopback port): protocol, errors, CORS, health."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from cds_service.app import create_app
from cds_service.auth import TrustFileError
from cds_service.settings import Settings
from tests.cases import own_cases
from tests.cds_response_rules import assert_valid_response
from tests.live_server import serve
from tests.vignettes import Vignette, prefetch_from

CASES = {v.id: v for v in own_cases()}
SERVICE_OF = {
    "patient-view": "radix-lumbar-radiculopathy",
    "order-select": "radix-lumbar-imaging-select",
    "order-sign": "radix-lumbar-imaging-sign",
}


def hook_request(
    vignette: Vignette, hook_instance: str = "3f1c9d2e-7b4a-4c1e-9f0d-2a6b8c4e1d00", **changes: Any
) -> dict[str, Any]:
    body = {
        "hook": vignette.hook,
        "hookInstance": hook_instance,
        "context": copy.deepcopy(vignette.context),
        "prefetch": prefetch_from(vignette.resources),
    }
    body.update(changes)
    return body


def _settings(tmp_path, **overrides: Any) -> Settings:
    values = {
        "data_dir": tmp_path,
        "fhir_allow_loopback": True,
        "fhir_deadline_seconds": 2.0,
        "auth_required": False,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def radix(tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """A client for Radix running on embedded defaults, clock frozen at the cases' asOf."""
    as_of = CASES["ces-retention"].as_of
    app = create_app(_settings(tmp_path), clock=lambda: as_of)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


def _outcome(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] == "error" and issue["code"] and issue["diagnostics"]
    assert "Traceback" not in response.text
    return issue["diagnostics"]


# --- discovery, health, CORS ----------------------------------------------------------------


async def test_discovery_lists_one_service_per_hook(radix):
    response = await radix.get("/cds-services")
    assert response.status_code == 200
    services = response.json()["services"]
    assert {s["hook"]: s["id"] for s in services} == SERVICE_OF
    assert all(s["prefetch"]["patient"] == "Patient/{{context.patientId}}" for s in services)


async def test_health_endpoints(radix):
    assert (await radix.get("/livez")).json() == {"status": "ok"}
    ready = await radix.get("/readyz")
    assert ready.status_code == 200 and ready.json()["knowledgeVersion"].startswith("20")


async def test_cors_preflight_allows_the_sandbox_headers(radix):
    response = await radix.options(
        "/cds-services/radix-lumbar-radiculopathy",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    simple = await radix.get("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert simple.headers["access-control-allow-origin"] in ("*", "https://sandbox.cds-hooks.org")


async def test_cors_origins_are_configurable(tmp_path):
    app = create_app(_settings(tmp_path, cors_origins="https://ehr.example.org"))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        ok = await client.get("/cds-services", headers={"Origin": "https://ehr.example.org"})
        other = await client.get("/cds-services", headers={"Origin": "https://evil.example"})
    assert ok.headers["access-control-allow-origin"] == "https://ehr.example.org"
    assert "access-control-allow-origin" not in other.headers


# --- the one rule proven end to end: cauda equina ------------------------------------------


async def test_cauda_equina_gives_a_critical_card_with_two_stat_suggestions(radix):
    vignette = CASES["ces-retention"]
    response = await radix.post(
        "/cds-services/radix-lumbar-radiculopathy", json=hook_request(vignette)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid_response(body)
    critical = [c for c in body["cards"] if c["indicator"] == "critical"]
    assert len(critical) == 1
    card = critical[0]
    created = [
        a["resource"] for s in card["suggestions"] for a in s["actions"] if a["type"] == "create"
    ]
    assert len(created) == 2 and all(r["priority"] == "stat" for r in created)
    assert card["selectionBehavior"] in ("any", "at-most-one")
    assert card["links"] and all(link["type"] == "absolute" for link in card["links"])
    assessment = card["extension"]["org.radix-cds.assessment"]
    assert assessment["disposition"] == "emergency-referral"
    assert "cauda-equina" in {f["id"] for f in assessment["redFlags"]}
    assert any(rule.startswith("cauda-equina/") for rule in assessment["rules"])


async def test_card_and_suggestion_ids_are_stable_per_hook_instance(radix):
    vignette = CASES["ces-retention"]
    url = "/cds-services/radix-lumbar-radiculopathy"

    def ids(body: dict) -> list[str]:
        return [c["uuid"] for c in body["cards"]] + [
            s["uuid"] for c in body["cards"] for s in c.get("suggestions", [])
        ]

    first = (await radix.post(url, json=hook_request(vignette, "hook-instance-a"))).json()
    again = (await radix.post(url, json=hook_request(vignette, "hook-instance-a"))).json()
    other = (await radix.post(url, json=hook_request(vignette, "hook-instance-b"))).json()
    assert ids(first) == ids(again)
    assert set(ids(first)).isdisjoint(ids(other))


async def test_no_radicular_syndrome_and_no_flag_answers_an_empty_card_list(radix):
    vignette = CASES["hypertension"]
    response = await radix.post(
        "/cds-services/radix-lumbar-radiculopathy", json=hook_request(vignette)
    )
    assert response.status_code == 200 and response.json() == {"cards": []}


# --- errors: every status reads as an OperationOutcome -------------------------------------


async def test_400_for_a_body_that_is_not_json(radix):
    response = await radix.post(
        "/cds-services/radix-lumbar-radiculopathy",
        content=b"{oops",
        headers={"Content-Type": "application/json"},
    )
    assert "not valid JSON" in _outcome(response, 400)


async def test_400_for_the_wrong_hook(radix):
    body = hook_request(CASES["ces-retention"])
    response = await radix.post("/cds-services/radix-lumbar-imaging-sign", json=body)
    assert "order-sign" in _outcome(response, 400)


async def test_400_for_missing_required_context(radix):
    body = hook_request(CASES["ces-retention"])
    del body["context"]["userId"]
    response = await radix.post("/cds-services/radix-lumbar-radiculopathy", json=body)
    assert "userId" in _outcome(response, 400)


async def test_400_for_fhir_authorization_without_fhir_server(radix):
    body = hook_request(
        CASES["ces-retention"],
        fhirAuthorization={
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "s",
            "subject": "r",
        },
    )
    response = await radix.post("/cds-services/radix-lumbar-radiculopathy", json=body)
    assert "fhirServer" in _outcome(response, 400)


async def test_404_for_an_unknown_service(radix):
    body = hook_request(CASES["ces-retention"])
    assert "no-such-service" in _outcome(
        await radix.post("/cds-services/no-such-service", json=body), 404
    )
    _outcome(await radix.post("/cds-services/no-such-service/feedback", json={}), 404)
    _outcome(await radix.get("/nowhere"), 404)


async def test_405_for_the_wrong_method(radix):
    _outcome(await radix.get("/cds-services/radix-lumbar-radiculopathy"), 405)
    _outcome(await radix.delete("/cds-services"), 405)


async def test_413_for_a_body_over_the_limit(tmp_path):
    app = create_app(_settings(tmp_path, max_body_bytes=2_000))
    body = hook_request(CASES["ces-retention"])
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        declared = await client.post("/cds-services/radix-lumbar-radiculopathy", json=body)
        _outcome(declared, 413)

        async def chunks():  # no Content-Length: the limit holds while streaming
            yield b'{"hook": "patient-view", "pad": "'
            for _ in range(10):
                yield b"x" * 500

        streamed = await client.post(
            "/cds-services/radix-lumbar-radiculopathy",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        _outcome(streamed, 413)


async def test_412_when_essential_data_is_neither_prefetched_nor_fetchable(radix):
    body = hook_request(CASES["ces-retention"])
    del body["prefetch"]["conditions"]
    diagnostics = _outcome(
        await radix.post("/cds-services/radix-lumbar-radiculopathy", json=body), 412
    )
    assert "conditions" in diagnostics


async def test_an_internal_failure_is_a_500_outcome_without_internals(tmp_path):
    def broken_clock() -> datetime:
        raise RuntimeError("internal detail that must not leak")

    app = create_app(_settings(tmp_path), clock=broken_clock)
    body = hook_request(CASES["ces-retention"])
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post("/cds-services/radix-lumbar-radiculopathy", json=body)
    diagnostics = _outcome(response, 500)
    assert "internal detail" not in response.text and "RuntimeError" not in diagnostics


# --- feedback -----------------------------------------------------------------------------


async def test_feedback_is_stored_once_however_often_it_is_sent(radix):
    vignette = CASES["ces-retention"]
    cards = (
        await radix.post("/cds-services/radix-lumbar-radiculopathy", json=hook_request(vignette))
    ).json()["cards"]
    card = cards[0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-11-20T09:35:00Z",
            }
        ]
    }
    url = "/cds-services/radix-lumbar-radiculopathy/feedback"
    first = await radix.post(url, json=feedback)
    repeat = await radix.post(url, json=feedback)
    assert first.status_code == 200 and first.json() == {"received": 1, "stored": 1}
    assert repeat.status_code == 200 and repeat.json() == {"received": 1, "stored": 0}


async def test_invalid_feedback_is_a_400(radix):
    url = "/cds-services/radix-lumbar-radiculopathy/feedback"
    response = await radix.post(
        url,
        json={
            "feedback": [
                {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-20T09:35:00Z"}
            ]
        },
    )
    assert "acceptedSuggestions" in _outcome(response, 400)


# --- lifespan: the process's resources -------------------------------------------------------


class _ClosingTransport(httpx.AsyncBaseTransport):
    """Answers nothing; counts how often the clients built on it were closed."""

    def __init__(self) -> None:
        self.closed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("this test sends nothing", request=request)

    async def aclose(self) -> None:
        self.closed += 1


@dataclass
class _Clients:
    """Every HTTP and Redis client built while it records, and the Redis clients closed."""

    http: list[httpx.AsyncClient] = field(default_factory=list)
    redis: list[redis.Redis] = field(default_factory=list)
    redis_closed: list[redis.Redis] = field(default_factory=list)

    def all_closed(self) -> bool:
        return all(c.is_closed for c in self.http) and all(
            any(c is closed for closed in self.redis_closed) for c in self.redis
        )


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> _Clients:
    """Records each client as it is made (the app's own, not only what it hands out)."""
    made = _Clients()
    http_init, redis_init, redis_aclose = (
        httpx.AsyncClient.__init__,
        redis.Redis.__init__,
        redis.Redis.aclose,
    )

    def recording_http(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        http_init(self, *args, **kwargs)
        made.http.append(self)

    def recording_redis(self: redis.Redis, *args: Any, **kwargs: Any) -> None:
        redis_init(self, *args, **kwargs)
        made.redis.append(self)

    async def recording_aclose(self: redis.Redis, *args: Any, **kwargs: Any) -> None:
        made.redis_closed.append(self)
        await redis_aclose(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", recording_http)
    monkeypatch.setattr(redis.Redis, "__init__", recording_redis)
    monkeypatch.setattr(redis.Redis, "aclose", recording_aclose)
    return made


def _every_client_settings(tmp_path, **overrides: Any) -> Settings:
    """Authentication on and Redis configured: the FHIR and JWKS clients, the Redis replay cache
    and the shared rate limiter. Nothing listens on port 1, and nothing is sent at start."""
    values: dict[str, Any] = {
        "auth_required": True,
        "notes_enabled": False,
        "redis_url": "redis://127.0.0.1:1/0",
        "rate_limit_per_minute": 60,
    }
    return _settings(tmp_path, **{**values, **overrides})


async def test_building_the_app_makes_no_client_and_its_lifespan_closes_every_one(
    tmp_path, clients: _Clients
):
    transport = _ClosingTransport()
    app = create_app(_every_client_settings(tmp_path), http_transport=transport)
    # Building is cheap and opens nothing: the lifespan makes what it serves with.
    assert clients.http == [] and clients.redis == []
    assert not hasattr(app.state, "runtime")

    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        # The FHIR client and the JWKS client; the replay cache and the rate limiter on Redis.
        assert len(clients.http) == 2 and not any(c.is_closed for c in clients.http)
        assert len(clients.redis) == 2 and clients.redis_closed == []
        assert not runtime.advisor.gatherer.client.is_closed
        assert await runtime.store.ready() and transport.closed == 0

    assert clients.all_closed() and transport.closed == 2
    assert runtime.advisor.gatherer.client.is_closed
    assert not await runtime.store.ready()
    # The runtime lives as long as the lifespan: nothing reaches its closed clients after it.
    assert not hasattr(app.state, "runtime")


async def test_the_lifespan_opens_the_resources_and_closes_them_all(tmp_path):
    transport = _ClosingTransport()
    settings = _settings(tmp_path, auth_required=True, notes_enabled=False)
    app = create_app(settings, http_transport=transport)

    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        assert await runtime.store.ready() and transport.closed == 0

    # The FHIR client and the authenticator's JWKS client, both on the injected transport.
    assert transport.closed == 2 and runtime.advisor.gatherer.client.is_closed
    assert not await runtime.store.ready()


async def test_a_second_start_of_the_same_app_gets_clients_of_its_own(tmp_path, clients: _Clients):
    transport = _ClosingTransport()
    app = create_app(_every_client_settings(tmp_path), http_transport=transport)

    async with app.router.lifespan_context(app):
        first = app.state.runtime
    async with app.router.lifespan_context(app):
        second = app.state.runtime
        assert not second.advisor.gatherer.client.is_closed
        assert await second.store.ready()

    assert second.advisor.gatherer.client is not first.advisor.gatherer.client
    assert len(clients.http) == 4 and len(clients.redis) == 4
    assert clients.all_closed() and transport.closed == 4


async def test_a_resource_that_fails_to_open_closes_those_opened_before_it(
    tmp_path, clients: _Clients
):
    (tmp_path / "a-file").write_text("not a folder")
    transport = _ClosingTransport()
    settings = _every_client_settings(tmp_path, data_dir=tmp_path / "a-file" / "data")
    app = create_app(settings, http_transport=transport)

    with pytest.raises(OSError):  # the store cannot make its folder
        async with app.router.lifespan_context(app):
            pytest.fail("the service must not start without its store")

    # Every client was made and opened before the store failed, and every one is closed.
    assert len(clients.http) == 2 and len(clients.redis) == 2
    assert clients.all_closed() and transport.closed == 2
    assert not hasattr(app.state, "runtime")


async def test_a_client_that_fails_to_build_closes_the_clients_built_before_it(
    tmp_path, clients: _Clients
):
    # An unreadable trust file: the authenticator cannot be built, after the FHIR client was.
    trust = tmp_path / "trusted-clients.json"
    trust.write_text("{not json")
    transport = _ClosingTransport()
    settings = _every_client_settings(tmp_path, trusted_clients_file=trust)
    app = create_app(settings, http_transport=transport)

    with pytest.raises(TrustFileError, match=r"trusted-clients\.json"):
        async with app.router.lifespan_context(app):
            pytest.fail("the service must not start without its authenticator")

    assert len(clients.http) == 1 and clients.all_closed() and transport.closed == 1
    assert clients.redis == []
