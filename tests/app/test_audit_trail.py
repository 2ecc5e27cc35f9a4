"""The audit trail and analytics of the running service, over real HTTP, on SQLite and PostgreSQL.

Every case runs on SQLite and on PostgreSQL (``RADIX_TEST_POSTGRES_URL``, or a throwaway cluster),
in a schema of its own (the ``backend`` fixture of ``tests/app/conftest.py``).
Rows are read back with the store's own table definitions after the app has shut down, so what
is checked is what the lifespan's drain left in the database.
"""

from __future__ import annotations

import asyncio
import copy
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from starlette.applications import Starlette

from cds_service.app import create_app
from cds_service.store.schema import audit_card, audit_event, feedback
from cds_service.store.store import Store
from tests.app.test_application import CASES, SERVICE_OF, _settings, hook_request
from tests.auth.conftest import SigningKey, write_trust_file
from tests.live_server import serve
from tests.store.conftest import Backend

TOKEN = "audit-trail-admin-token"
ISSUER = "https://ehr.example.org/fhir"
AS_OF = CASES["ces-retention"].as_of
PAMA_RATING = "http://fhir.org/argonaut/Extension/pama-rating"
ASSESSMENT = "org.radix-cds.assessment"
FEEDBACK_URL = "/cds-services/{}/feedback"


def _app(backend: Backend, tmp_path: Path, **overrides: Any) -> tuple[Starlette, Store]:
    store = backend.store()
    settings = _settings(tmp_path, admin_token=TOKEN, **overrides)
    return create_app(settings, store=store, clock=lambda: AS_OF), store


async def _rows(backend: Backend, query: Any) -> list[Any]:
    engine = backend.engine()
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(query))
    finally:
        await engine.dispose()


def _admin(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- (a) feedback under concurrency ---------------------------------------------------------


def _logical_feedback(n: int) -> dict[str, Any]:
    """Feedback item ``n``; items 2k and 2k+1 are one card answered at two different instants."""
    card = f"fb-card-{n // 2}"
    minute = 30 + n % 2
    if n % 4 < 2:
        return {
            "card": card,
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": f"{card}-s{k}"} for k in range(1 + n % 3)],
            "outcomeTimestamp": f"2026-11-20T09:{minute}:00Z",
        }
    return {
        "card": card,
        "outcome": "overridden",
        "overrideReason": {"userComment": f"not for this patient ({n})"},
        "outcomeTimestamp": f"2026-11-20T09:{minute}:00Z",
    }


def _repeat_of(item: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same feedback, as a client may resend it: another spelling of the instant, suggestions
    reordered or doubled, another comment. None of that makes it new."""
    copy_ = copy.deepcopy(item)
    instant = datetime.fromisoformat(item["outcomeTimestamp"].replace("Z", "+00:00"))
    copy_["outcomeTimestamp"] = rng.choice(
        [
            item["outcomeTimestamp"],
            item["outcomeTimestamp"].lower(),
            instant.isoformat(),
            instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            (instant + timedelta(hours=1)).isoformat().replace("+00:00", "+01:00"),
        ]
    )
    if "acceptedSuggestions" in copy_:
        chosen = copy_["acceptedSuggestions"]
        copy_["acceptedSuggestions"] = rng.choice([chosen[::-1], chosen + chosen[:1]])
    else:
        copy_["overrideReason"] = {"userComment": rng.choice(["again", "resent by the EHR"])}
    return copy_


def _concurrent_hook_call(client: int, k: int) -> tuple[dict[str, Any], int]:
    """Hook call ``k`` of a client and the status it must get: cards, none, 400 or 412."""
    ces, quiet = CASES["ces-retention"], CASES["hypertension"]
    instance = f"client-{client}-call-{k}"
    if k % 4 == 0:
        return hook_request(ces, instance), 200
    if k % 4 == 1:
        return hook_request(quiet, instance), 200
    body = hook_request(ces, instance)
    if k % 4 == 2:
        del body["context"]["userId"]
        return body, 400
    del body["prefetch"]["conditions"]
    return body, 412


async def test_concurrent_clients_leave_the_distinct_feedback_and_every_call(
    backend: Backend, tmp_path: Path
) -> None:
    rng = random.Random(20261120)
    distinct, clients, posts_each = 250, 50, 20
    # Every logical item is posted at least once; the other posts repeat random ones, some
    # twice within one request.
    picks = list(range(distinct)) + [
        rng.randrange(distinct) for _ in range(clients * posts_each - distinct)
    ]
    rng.shuffle(picks)
    bodies = []
    for n in picks:
        items = [_repeat_of(_logical_feedback(n), rng)]
        if rng.random() < 0.2:
            items.append(_repeat_of(_logical_feedback(n), rng))
        bodies.append({"feedback": items})
    service = SERVICE_OF["patient-view"]
    # All 50 clients share 127.0.0.1, one rate-limit bucket; this is about the store, not 429s.
    app, _ = _app(backend, tmp_path, rate_limit_per_minute=0)
    stored: list[int] = []
    answered: dict[str, int] = {}

    async def client(c: int, base_url: str, mine: list[dict[str, Any]]) -> None:
        # One connection pool per client: 50 EHR sessions, not one multiplexed client.
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            for i, body in enumerate(mine):
                response = await http.post(FEEDBACK_URL.format(service), json=body)
                assert response.status_code == 200, response.text
                assert response.json()["received"] == len(body["feedback"])
                stored.append(response.json()["stored"])
                if i % 5 == 0:  # hook calls interleaved with the feedback: 4 per client
                    call, status = _concurrent_hook_call(c, i // 5)
                    answer = await http.post(f"/cds-services/{service}", json=call)
                    assert answer.status_code == status, answer.text
                    answered[call["hookInstance"]] = status

    async with serve(app) as base_url:
        await asyncio.gather(*(client(c, base_url, bodies[c::clients]) for c in range(clients)))

    # Every call answered has its audit row, with its status, once the app has shut down.
    calls = await _rows(backend, select(audit_event.c.hook_instance, audit_event.c.status_code))
    assert len(answered) == clients * 4
    assert len(calls) == len(answered) and dict(calls) == answered

    assert len(stored) == clients * posts_each
    assert sum(stored) == distinct  # each distinct item acknowledged as new exactly once
    rows = await _rows(
        backend,
        select(
            feedback.c.card_uuid,
            feedback.c.outcome,
            feedback.c.outcome_at,
            feedback.c.accepted_suggestions,
        ),
    )
    assert len(rows) == distinct
    expected = set()
    for n in range(distinct):
        item = _logical_feedback(n)
        at = datetime.fromisoformat(item["outcomeTimestamp"].replace("Z", "+00:00"))
        ids = tuple(sorted(s["id"] for s in item.get("acceptedSuggestions", [])))
        expected.add((item["card"], item["outcome"], at, ids))
    assert {(c, o, at, tuple(a or ())) for c, o, at, a in rows} == expected


# --- (b) one audit row per hook call, whatever its outcome ---------------------------------


def _calls() -> list[dict[str, Any]]:
    """Hook calls of every outcome, with the audit row each must leave."""
    ces, l5, quiet = (CASES[v] for v in ("ces-retention", "l5-left-acute", "hypertension"))
    with_token = hook_request(
        l5,
        "hi-l5",
        fhirServer="http://127.0.0.1:9/fhir",
        fhirAuthorization={
            "access_token": "tok-never-stored-3141",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "radix",
        },
    )
    no_userid = hook_request(ces, "hi-no-user")
    del no_userid["context"]["userId"]
    no_conditions = hook_request(ces, "hi-412")
    del no_conditions["prefetch"]["conditions"]
    padded = hook_request(ces, "hi-413", extension={"pad": "x" * 80_000})
    pv, sign = SERVICE_OF["patient-view"], SERVICE_OF["order-sign"]

    def ok(vignette_id: str, instance: str, body: Any = None) -> dict[str, Any]:
        vignette = CASES[vignette_id]
        return {
            "service": SERVICE_OF[vignette.hook],
            "body": body or hook_request(vignette, instance),
            "vignette": vignette,
            "status": 200,
            "kind": None,
            "hook": vignette.hook,
            "instance": instance,
        }

    def refused(service: str, body: Any, status: int, kind: str, hook: str, instance: str):
        return {
            "service": service,
            "body": body,
            "status": status,
            "kind": kind,
            "hook": hook,
            "instance": instance,
        }

    return [
        ok("ces-retention", "hi-ces"),
        ok("l5-left-acute", "hi-l5", with_token),
        ok("hypertension", "hi-quiet"),  # 200 without cards
        ok("mri-too-early", "hi-too_early"),  # a card and a not-appropriate rating
        ok("mri-after-pt", "hi-mri-after-pt"),  # no card, an appropriate rating
        ok("sign-repeat-mri", "hi-sign-repeat"),
        ok("ces-retention", "hi-ces"),  # the EHR retries: a second call, a second row
        refused(pv, b"{oops", 400, "malformed-json", "patient-view", ""),
        refused(sign, hook_request(quiet, "hi-wrong"), 400, "wrong-hook", "order-sign", "hi-wrong"),
        refused(pv, no_userid, 400, "invalid-request", "patient-view", "hi-no-user"),
        # A call to no service of the catalogue is a refusal counter, never a row.
        {
            **refused(
                "no-such-service", hook_request(ces, "hi-404"), 404, "unknown-service", "", ""
            ),
            "row": False,
        },
        {
            **refused(
                pv, no_conditions, 412, "essential-data-unavailable", "patient-view", "hi-412"
            ),
            "patient": f"Patient/{ces.context['patientId']}",
        },
        # Declared too large, it is refused before admission (nothing read): a counter.
        {**refused(pv, padded, 413, "body-too-large", "patient-view", ""), "row": False},
    ]


async def _make_calls(base_url: str, calls: list[dict[str, Any]]) -> list[httpx.Response]:
    responses = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        # One after another, so the audit rows' ids follow the calls' order.
        for call in calls:
            body = call["body"]
            content = body if isinstance(body, bytes) else orjson.dumps(body)
            response = await http.post(
                f"/cds-services/{call['service']}",
                content=content,
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code == call["status"], response.text
            responses.append(response)
    return responses


def _expected_cards(response: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            card["uuid"],
            card["summary"],
            card["indicator"],
            card["extension"][ASSESSMENT]["rules"],
            [{"uuid": s["uuid"], "label": s["label"]} for s in card.get("suggestions", [])],
        )
        for card in response.get("cards", [])
    ]


def _expected_ratings(response: dict[str, Any]) -> list[dict[str, str]]:
    ratings = []
    for action in response.get("systemActions", []):
        resource = action["resource"]
        for extension in resource.get("extension", []):
            if extension["url"] == PAMA_RATING:
                code = extension["valueCodeableConcept"]["coding"][0]["code"]
                ratings.append({"reference": f"ServiceRequest/{resource['id']}", "rating": code})
    return ratings


async def test_every_hook_call_leaves_one_faithful_audit_row(
    backend: Backend, tmp_path: Path
) -> None:
    calls = _calls()
    app, _ = _app(backend, tmp_path, max_body_bytes=64_000)
    async with serve(app) as base_url:
        responses = await _make_calls(base_url, calls)
        async with httpx.AsyncClient(base_url=base_url) as http:
            knowledge_version = (await http.get("/readyz")).json()["knowledgeVersion"]

    events = await _rows(backend, select(audit_event).order_by(audit_event.c.id))
    cards = await _rows(backend, select(audit_card).order_by(audit_card.c.id))
    audited = [(c, r) for c, r in zip(calls, responses, strict=True) if c.get("row", True)]
    assert len(audited) == len(calls) - 2
    calls, responses = [c for c, _ in audited], [r for _, r in audited]
    assert len(events) == len(calls)
    cards_of: dict[int, list[tuple[Any, ...]]] = {}
    for card in cards:
        cards_of.setdefault(card.event_id, []).append(
            (card.uuid, card.summary, card.indicator, card.rules, card.suggestions or [])
        )

    for call, response, event in zip(calls, responses, events, strict=True):
        where = f"{call['service']} {call['instance']!r} -> {call['status']}"
        assert event.service_id == call["service"], where
        assert event.status_code == call["status"], where
        assert event.error_kind == call["kind"], where
        assert event.hook == call["hook"], where
        assert event.hook_instance == call["instance"], where
        assert event.received_at == AS_OF, where
        assert event.latency_ms > 0, where
        assert event.issuer is None and event.tenant is None, where  # no client JWT here
        if call["status"] != 200:
            # A call that parsed (a 412) names its patient; one refused earlier cannot.
            assert event.patient_reference == call.get("patient"), where
            assert event.assessment is None and event.order_ratings is None, where
            assert event.knowledge_version is None, where
            assert event.id not in cards_of, where
            continue
        body = response.json()
        vignette = call["vignette"]
        assert event.patient_reference == f"Patient/{vignette.context['patientId']}", where
        assert event.knowledge_version == knowledge_version, where
        assert event.assessment["knowledgeVersion"] == knowledge_version, where
        assert event.assessment["disposition"] == vignette.expected["disposition"], where
        for card in body.get("cards", []):
            assert card["extension"][ASSESSMENT] == event.assessment, where
        assert (event.order_ratings or []) == _expected_ratings(body), where
        assert cards_of.get(event.id, []) == _expected_cards(body), where

    # Each kind of successful call was made: with cards, without, with ratings.
    ok = [r.json() for r, c in zip(responses, calls, strict=True) if c["status"] == 200]
    assert any(b["cards"] for b in ok) and any(not b["cards"] for b in ok)
    assert any(_expected_ratings(b) for b in ok)
    # The retry answered with the same card ids, and both calls are on record.
    assert _expected_cards(ok[0]) == _expected_cards(ok[-1])

    # No prefetch data, names or tokens: only what the README lists.
    dump = orjson.dumps(
        [r._asdict() for r in events + cards], default=str, option=orjson.OPT_NON_STR_KEYS
    ).decode()
    assert "hi-ces" in dump and "cauda-equina/urinary-retention" in dump
    for secret in ("tok-never-stored-3141", "Tanaka", "MRN4863173", "birthDate", "Hiro"):
        assert secret not in dump


async def test_a_call_refused_for_missing_data_keeps_its_patient(
    backend: Backend, tmp_path: Path
) -> None:
    body = hook_request(CASES["ces-retention"], "hi-412")
    del body["prefetch"]["conditions"]
    app, _ = _app(backend, tmp_path)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(f"/cds-services/{SERVICE_OF['patient-view']}", json=body)
        assert response.status_code == 412
    (event,) = await _rows(backend, select(audit_event))
    assert event.patient_reference == f"Patient/{body['context']['patientId']}"


async def test_the_trail_names_the_authenticated_client(backend: Backend, tmp_path: Path) -> None:
    key = SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "ehr-audit")
    trust = write_trust_file(tmp_path, ISSUER, key, ["site-a", "site-b"])
    public = "https://radix.example.org"
    service = SERVICE_OF["patient-view"]
    call_path, feedback_path = f"/cds-services/{service}", FEEDBACK_URL.format(service)

    def bearer(path: str, tenant: str) -> dict[str, str]:
        now = int(datetime.now(UTC).timestamp())
        claims = {
            "iss": ISSUER,
            "aud": public + path,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "tenant": tenant,
        }
        return {"Authorization": f"Bearer {key.sign(claims, typ='JWT')}"}

    app, _ = _app(
        backend, tmp_path, auth_required=True, trusted_clients_file=trust, public_base_url=public
    )
    body = hook_request(CASES["ces-retention"], "hi-signed")
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        answered = await http.post(call_path, json=body, headers=bearer(call_path, "site-a"))
        assert answered.status_code == 200, answered.text
        refused = await http.post(call_path, json={**body, "hookInstance": "hi-anonymous"})
        assert refused.status_code == 401
        card = answered.json()["cards"][0]
        item = {
            "card": card["uuid"],
            "outcome": "overridden",
            "overrideReason": {"userComment": "already arranged"},
            "outcomeTimestamp": "2026-11-20T09:45:00Z",
        }
        stored = []
        for tenant in ("site-a", "site-b", "site-a"):
            response = await http.post(
                feedback_path, json={"feedback": [item]}, headers=bearer(feedback_path, tenant)
            )
            assert response.status_code == 200, response.text
            stored.append(response.json()["stored"])

    # The same words from two sites are two answers; the same site saying it twice is one.
    assert stored == [1, 1, 0]
    events = await _rows(
        backend,
        select(
            audit_event.c.status_code,
            audit_event.c.error_kind,
            audit_event.c.issuer,
            audit_event.c.tenant,
            audit_event.c.patient_reference,
        ).order_by(audit_event.c.id),
    )
    # The unauthenticated call is a refusal counter, not a row (test_refusals.py).
    assert [tuple(e) for e in events] == [
        (200, None, ISSUER, "site-a", f"Patient/{body['context']['patientId']}"),
    ]
    answers = await _rows(backend, select(feedback.c.issuer, feedback.c.tenant))
    assert sorted(tuple(a) for a in answers) == [(ISSUER, "site-a"), (ISSUER, "site-b")]


# --- (c) feedback joins the trail by card uuid -----------------------------------------------


def _accept(card: dict[str, Any], *suggestions: dict[str, Any]) -> dict[str, Any]:
    return {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": s["uuid"]} for s in suggestions],
        "outcomeTimestamp": "2026-11-20T09:40:00Z",
    }


def _override(card: dict[str, Any], reason: dict[str, str]) -> dict[str, Any]:
    return {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": reason, "userComment": "discussed with the patient"},
        "outcomeTimestamp": "2026-11-20T09:41:00Z",
    }


def _tally(entry: dict[str, Any]) -> tuple[int, int, int, int]:
    return (entry["shown"], entry["accepted"], entry["overridden"], entry["noResponse"])


async def test_analytics_count_what_was_shown_and_what_clinicians_did(
    backend: Backend, tmp_path: Path
) -> None:
    ces_case, quiet, too_early = (
        CASES[v] for v in ("ces-retention", "hypertension", "mri-too-early")
    )
    pv, select_ = SERVICE_OF["patient-view"], SERVICE_OF["order-select"]
    app, store = _app(backend, tmp_path)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        async def card_of(service: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await http.post(f"/cds-services/{service}", json=body)
            assert response.status_code == 200, response.text
            (card,) = response.json()["cards"]
            return card

        ces = [await card_of(pv, hook_request(ces_case, f"ces-{k}")) for k in "abc"]
        again = await card_of(pv, hook_request(ces_case, "ces-a"))  # a retry shows the same card
        assert again["uuid"] == ces[0]["uuid"]
        mri = [await card_of(select_, hook_request(too_early, f"mri-{k}")) for k in "abc"]
        empty = await http.post(f"/cds-services/{pv}", json=hook_request(quiet, "nothing"))
        assert empty.json() == {"cards": []}

        review, emergency_mri = ces[0]["suggestions"]
        (swap,) = mri[0]["suggestions"]
        reason = {k: ces[2]["overrideReasons"][0][k] for k in ("system", "code")}
        preference = next(r for r in mri[1]["overrideReasons"] if r["code"] == "patient-preference")
        mri_b_override = _override(
            mri[1], {"system": preference["system"], "code": "patient-preference"}
        )
        posts = [
            (pv, [_accept(ces[0], *ces[0]["suggestions"])]),
            (pv, [_accept(ces[1], ces[1]["suggestions"][1])]),  # the MRI only
            (pv, [_override(ces[2], reason)]),
            (select_, [_accept(mri[0], mri[0]["suggestions"][0])]),
            (select_, [mri_b_override]),
            (select_, [mri_b_override]),  # resent: still one override
            (pv, [{**_accept(ces[0], review), "card": "not-a-card-of-ours"}]),
            # mri[2] is left unanswered
        ]
        for service, items in posts:
            response = await http.post(FEEDBACK_URL.format(service), json={"feedback": items})
            assert response.status_code == 200, response.text
        # Audit rows are written off the hot path; wait for them rather than for a clock.
        await store.flush_audit()

        response = await http.get("/analytics/summary", headers=_admin())
        later = await http.get(
            "/analytics/summary",
            params={"from": (AS_OF + timedelta(days=1)).date().isoformat()},
            headers=_admin(),
        )
        same_day = AS_OF.date().isoformat()
        that_day = await http.get(
            "/analytics/summary", params={"from": same_day, "to": same_day}, headers=_admin()
        )

    assert response.status_code == 200, response.text
    summary = response.json()
    # 3 + 1 retry on patient-view with cards, 1 without; 3 on order-select
    assert summary["hookCalls"] == 8
    assert {h["hook"]: (h["calls"], h["errors"]) for h in summary["hooks"]} == {
        "patient-view": (5, 0),
        "order-select": (3, 0),
    }
    # 6 distinct cards: ces a, b accepted, c overridden; mri a accepted, b overridden, c silent
    assert _tally(summary["cards"]) == (6, 3, 2, 1)
    indicators = {i["indicator"]: _tally(i) for i in summary["indicators"]}
    assert indicators == {"critical": (3, 2, 1, 0), "warning": (3, 1, 1, 1)}
    rules = {r["rule"]: r for r in summary["rules"]}
    assert _tally(rules["cauda-equina/urinary-retention"]) == (3, 2, 1, 0)
    assert _tally(rules["order-rating/conservative-care-first"]) == (3, 1, 1, 1)
    assert _tally(rules["radicular/condition"]) == (6, 3, 2, 1)  # on both kinds of card
    suggestions = {s["suggestion"]: (s["offered"], s["accepted"]) for s in summary["suggestions"]}
    assert suggestions == {
        review["label"]: (3, 1),
        emergency_mri["label"]: (3, 2),
        swap["label"]: (3, 1),
    }
    reasons = {o["reason"]: o["count"] for o in summary["overrideReasons"]}
    assert reasons == {
        f"{reason['system']}|{reason['code']}": 1,
        f"{preference['system']}|patient-preference": 1,
    }
    assert {
        o["reason"]: o["count"] for o in rules["cauda-equina/urinary-retention"]["overrideReasons"]
    } == {f"{reason['system']}|{reason['code']}": 1}
    assert summary["feedbackWithoutCard"] == 1

    assert later.status_code == 200 and later.json()["hookCalls"] == 0
    assert _tally(later.json()["cards"]) == (0, 0, 0, 0)
    assert that_day.json()["hookCalls"] == 8 and _tally(that_day.json()["cards"]) == (6, 3, 2, 1)


# --- (d) who may read the analytics ----------------------------------------------------------

UNAUTHENTICATED = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "authentication required"}],
}


async def test_analytics_are_for_the_admin_token_only(backend: Backend, tmp_path: Path) -> None:
    app, _ = _app(backend, tmp_path)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        refusals = [
            await http.get("/analytics/summary"),
            await http.get("/analytics/summary", headers=_admin("wrong")),
            await http.get("/analytics/summary", headers=_admin(TOKEN + "x")),
            await http.get("/analytics/summary", headers={"Authorization": f"Basic {TOKEN}"}),
            # a stranger learns nothing about the parameters either
            await http.get("/analytics/summary", params={"from": "nonsense"}),
        ]
        bad = [
            await http.get("/analytics/summary", params=params, headers=_admin())
            for params in (
                {"from": "yesterday"},
                {"to": "2026-02-30"},
                {"from": "2026-11-21", "to": "2026-11-20"},
                {"to": "9999-12-31"},
            )
        ]
        wrong_method = await http.post("/analytics/summary", headers=_admin())
        ok = await http.get("/analytics/summary", headers=_admin())

    for response in refusals:
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"].startswith("application/fhir+json")
        assert response.json() == UNAUTHENTICATED
    for response in [*bad, wrong_method]:
        assert response.status_code in (400, 405)
        body = response.json()
        assert body["resourceType"] == "OperationOutcome", body
        assert body["issue"][0]["severity"] == "error" and body["issue"][0]["diagnostics"]
    assert [r.status_code for r in bad] == [400, 400, 400, 400]
    assert wrong_method.status_code == 405
    assert ok.status_code == 200 and ok.json()["hookCalls"] == 0
