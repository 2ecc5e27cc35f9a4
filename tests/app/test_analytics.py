from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from cds_service.app.analytics import analytics_routes, parse_bound
from cds_service.settings import Settings
from cds_service.store.audit_record import AuditRecord
from cds_service.store.store import Store

TOKEN = "s3cret-admin-token"
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _record(n: int, received_at: datetime) -> AuditRecord:
    return AuditRecord(
        hook_instance=f"hi-{n}",
        service_id="radix",
        hook="patient-view",
        received_at=received_at,
        latency_ms=float(n),
        issuer=None,
        tenant=None,
        patient_reference=f"Patient/{n}",
        cards=[{"uuid": f"c{n}", "summary": "s", "indicator": "info", "rules": ["r"]}],
    )


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path, admin_token=SecretStr(TOKEN))
    store = Store.from_settings(settings)
    await store.open()
    # one call on each of 1, 2 and 3 March
    for n, day in enumerate((1, 2, 3)):
        store.audit(_record(n, datetime(2026, 3, day, 23, 59, tzinfo=UTC)))
    await store.flush_audit()
    app = Starlette(routes=analytics_routes(store, settings))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://radix"
    ) as http:
        yield http
    await store.close()


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_summary_for_the_admin(client: httpx.AsyncClient) -> None:
    response = await client.get("/analytics/summary", headers=_auth())
    assert response.status_code == 200
    body = response.json()
    assert body["hookCalls"] == 3 and body["cards"]["shown"] == 3
    assert "from" not in body and "to" not in body


async def test_dates_select_whole_utc_days(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/analytics/summary", params={"from": "2026-03-02", "to": "2026-03-02"}, headers=_auth()
    )
    assert response.status_code == 200
    body = response.json()
    assert body["hookCalls"] == 1
    assert body["from"] == "2026-03-02T00:00:00+00:00" and body["to"] == "2026-03-03T00:00:00+00:00"
    response = await client.get(
        "/analytics/summary", params={"from": "2026-03-02T00:00:00+01:00"}, headers=_auth()
    )
    assert response.json()["hookCalls"] == 3  # from 1 March 23:00Z, so 1 March 23:59Z is in


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer"},
    ],
)
async def test_anyone_else_gets_401_without_detail(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/analytics/summary", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "login", "diagnostics": "authentication required"}],
    }
    assert response.headers["www-authenticate"] == "Bearer"


async def test_no_configured_token_means_no_access(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = Store.from_settings(settings)
    await store.open()
    try:
        app = Starlette(routes=analytics_routes(store, settings))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://radix") as http:
            for token in ("", " "):
                response = await http.get("/analytics/summary", headers=_auth(token))
                assert response.status_code == 401
                assert response.json()["issue"][0]["diagnostics"] == "authentication required"
    finally:
        await store.close()


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"to": "2026-02-30"},
        {"from": "2026-03-03", "to": "2026-03-01"},
        {"from": "2026-03-02T10:00:00Z", "to": "2026-03-02T10:00:00Z"},
        {"to": "9999-12-31"},  # no next midnight to end on
        {"from": "0001-01-01T00:00:00+01:00"},  # before the first UTC instant
    ],
)
async def test_bad_bounds_get_an_operation_outcome(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/analytics/summary", params=params, headers=_auth())
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "invalid"


async def test_bad_bounds_are_not_revealed_to_strangers(client: httpx.AsyncClient) -> None:
    response = await client.get("/analytics/summary", params={"from": "nonsense"})
    assert response.status_code == 401


def test_parse_bound() -> None:
    assert parse_bound("2026-03-02", end=False) == datetime(2026, 3, 2, tzinfo=UTC)
    assert parse_bound("2026-03-02", end=True) == datetime(2026, 3, 3, tzinfo=UTC)
    assert parse_bound("2026-03-02T10:00:00", end=False) == T0 - timedelta(hours=2)
    assert parse_bound("2026-03-02t14:00:00+02:00", end=True) == T0
