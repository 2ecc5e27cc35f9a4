"""Readiness and outages tell the truth, against a real Redis and a real PostgreSQL that stop.

- ``/readyz`` checks the Redis replay cache when there is one: while it is down every token is
  refused, so the service is not ready.
- With PostgreSQL stopped, hook calls are still answered; feedback is a 503 with ``Retry-After``
  (it was a 500), analytics a 503, readiness a 503; the audit writer keeps every queued record
  and writes it once the database is back, so every answered call has its row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from cds_service.app import create_app
from cds_service.store.schema import audit_event
from cds_service.store.schema import feedback as feedback_table
from tests.app.signed_client import SignedClient
from tests.app.test_application import CASES, SERVICE_OF, _settings, hook_request
from tests.live_server import serve
from tests.services import ServiceError, ThrowawayPostgres, free_port, throwaway_postgres
from tests.store.conftest import Backend, migrate_backend

pytestmark = pytest.mark.integration

ADMIN = "outage-admin-token"
PV = SERVICE_OF["patient-view"]
CALL = f"/cds-services/{PV}"
FEEDBACK = f"/cds-services/{PV}/feedback"
AS_OF = CASES["ces-retention"].as_of


# --- Redis ------------------------------------------------------------------------------------


async def _readiness(tmp_path: Path, redis_url: str) -> httpx.Response:
    ehr = SignedClient.in_folder(tmp_path, ["site-a"])
    settings = _settings(tmp_path, redis_url=redis_url, **ehr.settings())
    async with (
        serve(create_app(settings)) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        ready = await http.get("/readyz")
        # What readiness promises: a call with a valid token gets through, or does not.
        body = hook_request(CASES["hypertension"], "ready-probe")
        call = await http.post(CALL, json=body, headers=ehr.headers(CALL))
    assert (ready.status_code == 200) == (call.status_code == 200), (ready.text, call.text)
    return ready


async def test_readiness_reports_the_redis_replay_cache(tmp_path: Path, redis_url: str) -> None:
    up = await _readiness(tmp_path, redis_url)
    assert up.status_code == 200, up.text
    assert up.json()["replayCache"] == "ok" and up.json()["store"] == "ok"

    # Nothing listens on this port: Redis is down.
    down = await _readiness(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    assert down.status_code == 503
    assert down.json()["replayCache"] == "unavailable" and down.json()["status"] == "unavailable"
    assert down.json()["store"] == "ok"


async def test_readiness_without_redis_names_no_replay_cache(tmp_path: Path) -> None:
    ehr = SignedClient.in_folder(tmp_path, ["site-a"])
    app = create_app(_settings(tmp_path, **ehr.settings()))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 200 and "replayCache" not in ready.json()


# --- PostgreSQL stopped and started again -----------------------------------------------------


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL cluster of this test's own, since the test stops and restarts it."""
    with throwaway_postgres() as server:
        yield server


def _restart(server: ThrowawayPostgres) -> None:
    port = server.port
    for _ in range(50):  # the old postmaster may hold the port for a moment after it exits
        try:
            server.start(port)
            return
        except ServiceError:
            time.sleep(0.1)
    raise AssertionError("PostgreSQL did not start again on its port")


async def _until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def _feedback_item(minutes: int) -> dict[str, Any]:
    return {
        "card": f"outage-card-{minutes}",
        "outcome": "overridden",
        "overrideReason": {"userComment": "seen in clinic"},
        "outcomeTimestamp": f"2026-11-20T09:{minutes:02d}:00Z",
    }


async def test_a_database_outage_is_503s_and_loses_no_audit_row(
    own_postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    backend = Backend("postgres", own_postgres.url)
    await migrate_backend(backend)
    settings = _settings(tmp_path, admin_token=ADMIN, rate_limit_per_minute=0)
    app = create_app(settings, store=backend.store(), clock=lambda: AS_OF)
    answered: dict[str, int] = {}

    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        async def calls(prefix: str, n: int) -> None:
            for k in range(n):
                vignette = CASES["ces-retention"] if k % 2 else CASES["hypertension"]
                instance = f"{prefix}-{k}"
                response = await http.post(
                    CALL,
                    content=orjson.dumps(hook_request(vignette, instance)),
                    headers={"Content-Type": "application/json"},
                )
                assert response.status_code == 200, response.text
                answered[instance] = 200

        async def ready() -> bool:
            return (await http.get("/readyz")).status_code == 200

        await calls("before", 5)
        first = await http.post(FEEDBACK, json={"feedback": [_feedback_item(1)]})
        assert first.status_code == 200, first.text

        own_postgres.stop()
        await _until(lambda: _not(ready))
        readiness = await http.get("/readyz")
        assert readiness.json()["store"] == "unavailable"

        await calls("during", 20)  # still answered: advice does not wait for its audit row
        lost = await http.post(FEEDBACK, json={"feedback": [_feedback_item(2)]})
        assert lost.status_code == 503, lost.text
        assert lost.headers["retry-after"] == "30"
        assert lost.json()["issue"][0]["code"] == "transient"
        admin = {"Authorization": f"Bearer {ADMIN}"}
        analytics = await http.get("/analytics/summary", headers=admin)
        assert analytics.status_code == 503 and analytics.headers["retry-after"] == "30"
        assert app.state.runtime.store.audit_waiting_for_database

        # An outage longer than the old retry schedule (about 4.3 s) lost records.
        await asyncio.sleep(6)
        await calls("late", 5)
        _restart(own_postgres)
        await _until(ready)
        again = await http.post(FEEDBACK, json={"feedback": [_feedback_item(2)]})
        assert again.status_code == 200 and again.json()["stored"] == 1
        await app.state.runtime.store.flush_audit()
        assert not app.state.runtime.store.audit_waiting_for_database
        assert app.state.runtime.store.audit_failed == 0

    engine = backend.engine()
    try:
        async with engine.connect() as conn:
            rows = list(
                await conn.execute(select(audit_event.c.hook_instance, audit_event.c.status_code))
            )
            feedback_rows = list(await conn.execute(select(feedback_table.c.card_uuid)))
    finally:
        await engine.dispose()
    assert dict(rows) == answered and len(rows) == 30
    assert sorted(r.card_uuid for r in feedback_rows) == ["outage-card-1", "outage-card-2"]


async def _not(condition: Any) -> bool:
    return not await condition()
