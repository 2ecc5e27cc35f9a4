"""What strangers and hostile values can do to the store of the running service, over real HTTP.

- An unauthenticated flood (long paths, NUL characters, 300-character ids, forged tokens) while a
  real EHR calls: every answered call of the EHR has its audit row, and the flood has none; it is
  counted in memory instead (``GET /analytics/refusals``), in a bounded, truncated sample.
- Feedback values longer than their columns, or holding NUL, are a 400 on PostgreSQL as on
  SQLite (they were a 500 on PostgreSQL), and so is an ``outcomeTimestamp`` far from now.
- Feedback counts only for the client the card was answered to.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from cds_service.app import create_app
from cds_service.store.schema import audit_event, feedback
from tests.app.signed_client import ISSUER, SignedClient
from tests.app.test_application import CASES, SERVICE_OF, _settings, hook_request
from tests.live_server import serve
from tests.store.conftest import Backend

pytestmark = pytest.mark.integration

ADMIN = "hostile-storage-admin-token"
AS_OF = CASES["ces-retention"].as_of
PV = SERVICE_OF["patient-view"]
G = "A" * 7000  # a garbage token just under the length Radix parses
CALL = f"/cds-services/{PV}"
FEEDBACK = f"/cds-services/{PV}/feedback"


async def _rows(backend: Backend, query: Any) -> list[Any]:
    engine = backend.engine()
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(query))
    finally:
        await engine.dispose()


def _admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


# --- the unauthenticated flood ---------------------------------------------------------------


def _flood_requests(stranger: SignedClient) -> list[dict[str, Any]]:
    """One round of what a stranger sends; each must be refused without a row."""
    ces = hook_request(CASES["ces-retention"], "flood-\x00-" + "f" * 300)
    return [
        {"method": "POST", "url": "/cds-services/" + "x" * 3000, "json": ces},
        {"method": "POST", "url": "/cds-services/radix%00" + "a" * 300, "json": ces},
        {"method": "POST", "url": "/cds-services/" + "i" * 300, "json": ces},
        {"method": "POST", "url": CALL, "json": ces},
        {"method": "POST", "url": CALL, "json": ces, "headers": {"Authorization": "Bearer " + G}},
        # A well-formed token signed by a key Radix does not trust, with 300-character claims.
        {
            "method": "POST",
            "url": CALL,
            "json": ces,
            "headers": stranger.headers(CALL, tenant="t" * 300, jti="j\x00" * 150),
        },
        {"method": "POST", "url": FEEDBACK, "json": {"feedback": []}},
        {"method": "GET", "url": "/no/such/path/" + "p%00" * 1500},
        {"method": "POST", "url": "/cds-services/" + "y" * 300 + "/feedback", "json": {}},
    ]


def _legitimate_calls() -> list[tuple[dict[str, Any], int, str]]:
    """The EHR's calls: body, expected status, and the hook instance its row must carry."""
    calls = []
    for k in range(24):
        instance = f"legit-{k}"
        if k % 4 == 0:
            calls.append((hook_request(CASES["ces-retention"], instance), 200, instance))
        elif k % 4 == 1:
            calls.append((hook_request(CASES["hypertension"], instance), 200, instance))
        elif k % 4 == 2:
            # Authenticated but invalid (a NUL in hookInstance): a 400, and still its row.
            body = hook_request(CASES["ces-retention"], f"legit-\x00-{k}")
            calls.append((body, 400, f"legit--{k}"))
        else:
            body = hook_request(CASES["ces-retention"], instance)
            del body["prefetch"]["conditions"]
            calls.append((body, 412, instance))
    return calls


async def test_an_unauthenticated_flood_leaves_no_row_and_every_answered_call_its_row(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    ehr = SignedClient.in_folder(tmp_path, ["site-a"])
    stranger = SignedClient(trust_file=tmp_path / "unused")  # its key is in no trust file
    # Throttling is off: here the flood and the EHR share 127.0.0.1, and what is under test is
    # the audit trail, not the peer refusal budget (tests/app/test_admission.py has that).
    settings = _settings(
        tmp_path,
        admin_token=ADMIN,
        rate_limit_per_minute=0,
        peer_refusals_per_minute=0,
        **ehr.settings(),
    )
    app = create_app(settings, store=postgres_backend.store())
    rounds = 40
    flood_statuses: list[int] = []
    answered: dict[str, int] = {}

    async def flood(base_url: str) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            requests = list(
                itertools.chain.from_iterable(_flood_requests(stranger) for _ in range(rounds))
            )
            gate = asyncio.Semaphore(24)

            async def one(spec: dict[str, Any]) -> None:
                async with gate:
                    response = await http.request(**spec)
                flood_statuses.append(response.status_code)

            await asyncio.gather(*(one(spec) for spec in requests))

    async def ehr_calls(base_url: str) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            for body, status, instance in _legitimate_calls():
                response = await http.post(
                    CALL,
                    content=orjson.dumps(body),
                    headers={"Content-Type": "application/json", **ehr.headers(CALL)},
                )
                assert response.status_code == status, response.text
                answered[instance] = status

    async with serve(app) as base_url:
        await asyncio.gather(flood(base_url), ehr_calls(base_url))
        async with httpx.AsyncClient(base_url=base_url) as http:
            refusals = (await http.get("/analytics/refusals", headers=_admin())).json()

    assert len(flood_statuses) == rounds * len(_flood_requests(stranger))
    assert set(flood_statuses) <= {401, 404, 429}, sorted(set(flood_statuses))

    # What the lifespan's drain left in PostgreSQL: exactly the EHR's calls, each once.
    rows = await _rows(
        postgres_backend,
        select(
            audit_event.c.hook_instance,
            audit_event.c.status_code,
            audit_event.c.service_id,
            audit_event.c.issuer,
            audit_event.c.tenant,
        ),
    )
    assert {r.hook_instance: r.status_code for r in rows} == answered
    assert len(rows) == len(answered) == 24
    assert {(r.service_id, r.issuer, r.tenant) for r in rows} == {(PV, ISSUER, "site-a")}

    # The flood is counters and a bounded, truncated sample instead.
    counted: Counter[tuple[int, str]] = Counter()
    for c in refusals["counts"]:
        counted[(c["status"], c["kind"])] += c["count"]
    # The service is one of the catalogue's or none, never what the path said.
    assert {c["service"] for c in refusals["counts"]} == {PV, None}
    assert counted[(401, "unauthenticated")] == flood_statuses.count(401)
    assert counted[(404, "unknown-path")] == flood_statuses.count(404)
    assert counted[(400, "invalid-request")] == 6  # the EHR's own invalid calls are counted too
    assert refusals["total"] == len(flood_statuses) + 6 + 6  # + the EHR's 400s and 412s
    assert len(refusals["recent"]) == 100
    for entry in refusals["recent"]:
        assert len(entry["path"]) <= 120 + len("…(99999 chars)"), entry["path"][:80]
        assert "\x00" not in orjson.dumps(entry).decode()
        assert entry["service"] in (None, PV)
    dump = orjson.dumps(refusals).decode()
    assert "Bearer" not in dump and G[:16] not in dump and "flood-" not in dump


# --- feedback values Radix must refuse, not fail on --------------------------------------


def _item(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "card": "card-1",
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"system": "https://example.org/reasons", "code": "declined"},
            "userComment": "discussed with the patient",
        },
        "outcomeTimestamp": (AS_OF + timedelta(minutes=5)).isoformat(),
    }
    item.update(changes)
    return item


def _reason(**changes: Any) -> dict[str, Any]:
    reason = {"system": "https://example.org/reasons", "code": "declined", **changes}
    return {"reason": reason, "userComment": "ok"}


def _instant(delta: timedelta) -> str:
    return (AS_OF + delta).isoformat().replace("+00:00", "Z")


REFUSED = {
    "code over 256": _item(overrideReason=_reason(code="c" * 257)),
    "system over 1024": _item(overrideReason=_reason(system="s" * 1025)),
    "display over 1024": _item(overrideReason=_reason(display="d" * 1025)),
    "NUL in code": _item(overrideReason=_reason(code="de\x00clined")),
    "NUL in comment": _item(overrideReason={"userComment": "no\x00"}),
    "comment over 4000": _item(overrideReason={"userComment": "c" * 4001}),
    "NUL in card": _item(card="card\x00-1"),
    "card over 256": _item(card="c" * 257),
    "NUL in a suggestion id": _item(
        outcome="accepted", overrideReason=None, acceptedSuggestions=[{"id": "s\x00"}]
    ),
    "101 suggestions": _item(
        outcome="accepted",
        overrideReason=None,
        acceptedSuggestions=[{"id": f"s{n}"} for n in range(101)],
    ),
    "25 hours ahead": _item(outcomeTimestamp=_instant(timedelta(hours=25))),
    "366 days back": _item(outcomeTimestamp=_instant(-timedelta(days=366))),
    "year 9999": _item(outcomeTimestamp="9999-12-31T23:59:59Z"),
    "year 0001": _item(outcomeTimestamp="0001-01-01T00:00:00Z"),
}
STORED = {
    "code of 256, system of 1024, comment of 4000": _item(
        card="limits",
        overrideReason={
            "reason": {"system": "s" * 1024, "code": "c" * 256, "display": "d" * 1024},
            "userComment": "c" * 4000,
        },
    ),
    "23 hours ahead": _item(card="ahead", outcomeTimestamp=_instant(timedelta(hours=23))),
    "364 days back": _item(card="back", outcomeTimestamp=_instant(-timedelta(days=364))),
}


def _without_none(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


async def test_feedback_beyond_what_is_stored_is_a_400_on_every_backend(
    backend: Backend, tmp_path: Path
) -> None:
    app = create_app(_settings(tmp_path), store=backend.store(), clock=lambda: AS_OF)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        refused = {
            name: await http.post(FEEDBACK, json={"feedback": [_without_none(item)]})
            for name, item in REFUSED.items()
        }
        stored = {
            name: await http.post(FEEDBACK, json={"feedback": [item]})
            for name, item in STORED.items()
        }
    for name, response in refused.items():
        assert response.status_code == 400, (name, response.status_code, response.text[:300])
        assert response.json()["resourceType"] == "OperationOutcome", name
    for name, response in stored.items():
        assert response.status_code == 200, (name, response.text[:300])
        assert response.json() == {"received": 1, "stored": 1}, name
    rows = await _rows(
        backend, select(feedback.c.card_uuid, feedback.c.reason_code, feedback.c.user_comment)
    )
    assert sorted(r.card_uuid for r in rows) == ["ahead", "back", "limits"]
    limits = next(r for r in rows if r.card_uuid == "limits")
    assert (limits.reason_code, limits.user_comment) == ("c" * 256, "c" * 4000)


async def test_the_outcome_window_is_a_setting(backend: Backend, tmp_path: Path) -> None:
    settings = _settings(tmp_path, feedback_max_future_hours=0, feedback_max_past_days=1)
    app = create_app(settings, store=backend.store(), clock=lambda: AS_OF)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        ahead = await http.post(
            FEEDBACK, json={"feedback": [_item(outcomeTimestamp=_instant(timedelta(minutes=1)))]}
        )
        back = await http.post(
            FEEDBACK, json={"feedback": [_item(outcomeTimestamp=_instant(-timedelta(hours=25)))]}
        )
        now = await http.post(
            FEEDBACK, json={"feedback": [_item(outcomeTimestamp=_instant(timedelta(0)))]}
        )
    assert (ahead.status_code, back.status_code, now.status_code) == (400, 400, 200)
    assert "after now" in ahead.json()["issue"][0]["diagnostics"]
    assert "before now" in back.json()["issue"][0]["diagnostics"]


# --- feedback counts for the client the card was answered to ------------------------------


def _tally(entry: dict[str, Any]) -> tuple[int, int, int, int]:
    return (entry["shown"], entry["accepted"], entry["overridden"], entry["noResponse"])


async def test_one_client_cannot_change_the_outcome_of_a_card_answered_to_another(
    backend: Backend, tmp_path: Path
) -> None:
    ehr = SignedClient.in_folder(tmp_path, ["site-a", "site-b", "site-c"])
    settings = _settings(tmp_path, admin_token=ADMIN, **ehr.settings())
    app = create_app(settings, store=backend.store(), clock=lambda: AS_OF)
    body = hook_request(CASES["ces-retention"], "shared-instance")

    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        async def card_for(tenant: str) -> dict[str, Any]:
            response = await http.post(CALL, json=body, headers=ehr.headers(CALL, tenant))
            assert response.status_code == 200, response.text
            return response.json()["cards"][0]

        async def feedback_from(tenant: str, item: dict[str, Any]) -> None:
            response = await http.post(
                FEEDBACK, json={"feedback": [item]}, headers=ehr.headers(FEEDBACK, tenant)
            )
            assert response.status_code == 200, response.text

        card_a, card_b = await card_for("site-a"), await card_for("site-b")
        # Deterministic ids: both sites were shown the same uuid, each its own card.
        assert card_a["uuid"] == card_b["uuid"]
        accepted = {
            "card": card_a["uuid"],
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": card_a["suggestions"][0]["uuid"]}],
            "outcomeTimestamp": _instant(timedelta(minutes=5)),
        }
        overridden = {
            "card": card_a["uuid"],
            "outcome": "overridden",
            "overrideReason": {"userComment": "not my card, but later"},
            "outcomeTimestamp": _instant(timedelta(minutes=30)),
        }
        await feedback_from("site-a", accepted)
        # Site c was never shown the card: its later override must not count for anyone.
        await feedback_from("site-c", overridden)
        await feedback_from(
            "site-b", {**overridden, "outcomeTimestamp": _instant(timedelta(minutes=10))}
        )
        await app.state.runtime.store.flush_audit()
        summary = (await http.get("/analytics/summary", headers=_admin())).json()

    # Two cards shown (one per site): a's accepted, b's overridden; c's feedback has no card.
    assert _tally(summary["cards"]) == (2, 1, 1, 0)
    assert summary["feedbackWithoutCard"] == 1
    (surgical, *_) = [s for s in summary["suggestions"] if s["accepted"]]
    assert surgical["offered"] == 2 and surgical["accepted"] == 1
