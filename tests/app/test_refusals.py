"""The refusal counters: bounded whatever is refused, and shown only to the admin token."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

from cds_service.app import create_app
from cds_service.app.refusals import MAX_COUNTERS, SAMPLE_SIZE, RefusalLog
from tests.app.test_application import _settings
from tests.live_server import serve

SERVICE = "radix-lumbar-radiculopathy"


def _log() -> RefusalLog:
    return RefusalLog([SERVICE], clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))


def test_counts_are_by_status_kind_and_known_service_only() -> None:
    log = _log()
    log.record(
        method="POST",
        path=f"/cds-services/{SERVICE}",
        status=401,
        kind="unauthenticated",
        service_id=SERVICE,
        peer="127.0.0.1",
    )
    log.record(
        method="POST",
        path="/cds-services/evil",
        status=401,
        kind="unauthenticated",
        service_id="evil\x00" * 100,
        peer="127.0.0.1",
    )
    log.record(method="GET", path="/nope", status=404, kind="unknown-path")
    snapshot = log.snapshot()
    assert snapshot["total"] == 3 and log.count(401) == 2 and log.count(404, "unknown-path") == 1
    assert {(c["status"], c["service"], c["count"]) for c in snapshot["counts"]} == {
        (401, SERVICE, 1),
        (401, None, 1),
        (404, None, 1),
    }
    assert [r["path"] for r in snapshot["recent"]] == [
        "/nope",
        "/cds-services/evil",
        f"/cds-services/{SERVICE}",
    ]


def test_the_sample_and_the_counters_stay_bounded() -> None:
    log = _log()
    for n in range(SAMPLE_SIZE * 3):
        log.record(
            method="POST\x00" * 50,
            path="/p\n" * 5_000,
            status=401,
            kind=f"kind-{n}",
            peer="p" * 1_000,
        )
    snapshot = log.snapshot()
    assert snapshot["total"] == SAMPLE_SIZE * 3
    assert len(snapshot["recent"]) == SAMPLE_SIZE
    assert len(snapshot["counts"]) <= MAX_COUNTERS + 1
    for entry in snapshot["recent"]:
        assert len(entry["path"]) < 160 and "\n" not in entry["path"]
        assert len(entry["method"]) < 40 and "\x00" not in entry["method"]
        assert len(entry["peer"]) < 100


async def test_the_refusals_are_for_the_admin_token_only(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, admin_token="refusals-admin"))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        await http.get("/no-such-page")
        refused = await http.get("/analytics/refusals")
        wrong = await http.get("/analytics/refusals", headers={"Authorization": "Bearer nope"})
        shown = await http.get(
            "/analytics/refusals", headers={"Authorization": "Bearer refusals-admin"}
        )
    assert refused.status_code == wrong.status_code == 401
    body = shown.json()
    # The 404 and the two 401s above, counted in this process.
    assert body["total"] == 3 and {c["status"] for c in body["counts"]} == {401, 404}
    assert body["recent"][-1]["path"] == "/no-such-page"
