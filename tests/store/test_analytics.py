"""The analytics of a seeded history of 300 hook calls, against counts worked out by hand.

The history (k is the call's index within its hook, 0..99; calls are 10 minutes apart):

- patient-view, latency k+1 ms; k in {24, 49, 74, 99} failed (412, prefetch-missing) and
  showed nothing. The other 96 each show an ``info`` localisation card (never answered);
  k % 4 == 0 adds a ``warning`` MRI card (24 of them: 25 multiples of 4 less k=24) and
  k % 10 == 5 a ``critical`` cauda-equina card with two rule ids (10 of them).
- order-select, latency 2(k+1) ms: k even shows a ``warning`` imaging/not-indicated card (50).
- order-sign, latency 7.5 ms, no cards; k % 20 == 19 failed (500, internal): 5 calls.

Feedback:
- MRI cards: k % 8 == 0 accepted (0, 8, 16, 32, …, 96: 12); k % 16 == 4 overridden,
  patient-refuses (4, 20, 36, 52, 68, 84: 6); the other 6 (k % 16 == 12) no response.
- cauda-equina cards: k = 5..45 accepted (5; k = 5 sent twice; k = 15 first overridden, then
  accepted later, so accepted); k = 55, 65 overridden with a comment only (2); 75..95 none (3).
- not-indicated cards: k % 4 == 0 accepted, physiotherapy swap (25); k % 8 == 2 overridden,
  local red-flag-not-recorded (2, 10, …, 98: 13); k % 8 == 6 no response (12).
- one feedback for a card Radix has no record of, in the window; one before it.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_service.store.analytics import Call, Outcome, ShownCard, percentile, summarise
from cds_service.store.audit_record import AuditRecord
from cds_service.store.report import render_report
from cds_service.store.store import Store

BASE = datetime(2026, 3, 2, tzinfo=UTC)
HOOKS = ("patient-view", "order-select", "order-sign")
NON_ADHERENCE = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
LOCAL = "https://radix-cds.org/CodeSystem/override-reason"

CES = ["cauda-equina/urinary-retention", "cauda-equina/saddle-anaesthesia"]
MRI, SWAP, SURGICAL = (
    "Order lumbar MRI",
    "Refer to physiotherapy",
    "Refer for urgent surgical review",
)


def _card(uid: str, indicator: str, rules: list[str], label: str | None = None) -> dict:
    card: dict[str, Any] = {"uuid": uid, "summary": uid, "indicator": indicator, "rules": rules}
    if label:
        card["suggestions"] = [{"uuid": f"{uid}/s", "label": label}]
    return card


def _call(i: int) -> AuditRecord:
    hook, k = HOOKS[i % 3], i // 3
    cards: list[dict] = []
    status, error = 200, None
    if hook == "patient-view":
        latency = k + 1.0
        if k % 25 == 24:
            status, error = 412, "prefetch-missing"
        else:
            cards.append(_card(f"pv{k}-loc", "info", ["localisation"]))
            if k % 4 == 0:
                cards.append(
                    _card(f"pv{k}-mri", "warning", ["imaging/persistent-radiculopathy"], MRI)
                )
            if k % 10 == 5:
                cards.append(_card(f"pv{k}-ces", "critical", CES, SURGICAL))
    elif hook == "order-select":
        latency = 2.0 * (k + 1)
        if k % 2 == 0:
            cards.append(_card(f"os{k}-ni", "warning", ["imaging/not-indicated"], SWAP))
    else:
        latency = 7.5
        if k % 20 == 19:
            status, error = 500, "internal"
    return AuditRecord(
        hook_instance=f"hi-{i}",
        service_id=f"radix-{hook}",
        hook=hook,
        received_at=BASE + timedelta(minutes=10 * i),
        latency_ms=latency,
        issuer="https://ehr.example.org",
        tenant="north",
        patient_reference=f"Patient/{i % 37}",
        cards=cards,
        assessment={"disposition": "none"} if cards else None,
        order_ratings=[{"reference": "ServiceRequest/x", "rating": "appropriate"}]
        if hook == "order-sign"
        else [],
        knowledge_version="2026.11.0",
        status_code=status,
        error_kind=error,
    )


def _at(i: int, minutes: int = 1) -> str:
    return (BASE + timedelta(minutes=10 * i + minutes)).isoformat().replace("+00:00", "Z")


def _accept(uid: str, i: int, minutes: int = 1) -> dict:
    return {
        "card": uid,
        "outcome": "accepted",
        "outcomeTimestamp": _at(i, minutes),
        "acceptedSuggestions": [{"id": f"{uid}/s"}],
    }


def _override(uid: str, i: int, reason: dict | None) -> dict:
    why = {"reason": reason} if reason else {"userComment": "clinical judgement"}
    return {"card": uid, "outcome": "overridden", "outcomeTimestamp": _at(i), "overrideReason": why}


def _feedback() -> list[dict]:
    items: list[dict] = []
    refuses = {"system": NON_ADHERENCE, "code": "patient-refuses", "display": "Patient refuses"}
    red_flag = {
        "system": LOCAL,
        "code": "red-flag-not-recorded",
        "display": "Red flag not recorded",
    }
    for k in range(100):
        pv, os_ = 3 * k, 3 * k + 1
        if k % 4 == 0 and k != 24:
            if k % 8 == 0:
                items.append(_accept(f"pv{k}-mri", pv))
            elif k % 16 == 4:
                items.append(_override(f"pv{k}-mri", pv, refuses))
        if k in (5, 25, 35, 45):
            items.append(_accept(f"pv{k}-ces", pv))
        if k == 5:
            items.append(_accept(f"pv{k}-ces", pv))  # a repeat
        if k == 15:
            items.append(_override(f"pv{k}-ces", pv, None))
            items.append(_accept(f"pv{k}-ces", pv, minutes=6))  # changed their mind
        if k in (55, 65):
            items.append(_override(f"pv{k}-ces", pv, None))
        if k % 4 == 0:
            items.append(_accept(f"os{k}-ni", os_))
        elif k % 8 == 2:
            items.append(_override(f"os{k}-ni", os_, red_flag))
    items.append(_accept("unknown-card", 10))
    items.append({**_accept("unknown-card-2", 0), "outcomeTimestamp": "2026-03-01T00:00:00Z"})
    return items


@pytest.fixture
async def seeded(store: Store) -> Store:
    for i in range(300):
        store.audit(_call(i))
    await store.flush_audit()
    items = _feedback()
    for n in range(0, len(items), 7):  # in several posts, as EHRs send them
        await store.save_feedback("radix", items[n : n + 7], "https://ehr.example.org", "north")
    return store


def _tally(shown: int, accepted: int, overridden: int, none: int) -> dict[str, int]:
    return {"shown": shown, "accepted": accepted, "overridden": overridden, "noResponse": none}


REFUSES = {
    "reason": f"{NON_ADHERENCE}|patient-refuses",
    "system": NON_ADHERENCE,
    "code": "patient-refuses",
    "display": "Patient refuses",
}
RED_FLAG = {
    "reason": f"{LOCAL}|red-flag-not-recorded",
    "system": LOCAL,
    "code": "red-flag-not-recorded",
    "display": "Red flag not recorded",
}


async def test_summary_of_the_whole_history(seeded: Store) -> None:
    result = await seeded.summary(None, None)
    assert "from" not in result and "to" not in result
    assert result["hookCalls"] == 300
    # shown 96 + 24 + 10 + 50; accepted 12 + 5 + 25; overridden 6 + 2 + 13; the rest none
    assert result["cards"] == _tally(180, 42, 21, 117)
    assert result["feedbackWithoutCard"] == 2
    assert result["indicators"] == [
        {"indicator": "critical", **_tally(10, 5, 2, 3)},
        {"indicator": "warning", **_tally(74, 37, 19, 18)},
        {"indicator": "info", **_tally(96, 0, 0, 96)},
    ]
    ces = {
        **_tally(10, 5, 2, 3),
        "suggestions": [{"suggestion": SURGICAL, "offered": 10, "accepted": 5}],
        "overrideReasons": [{"reason": "uncoded", "count": 2}],
    }
    assert result["rules"] == [
        {"rule": "cauda-equina/saddle-anaesthesia", **ces},
        {"rule": "cauda-equina/urinary-retention", **ces},
        {
            "rule": "imaging/not-indicated",
            **_tally(50, 25, 13, 12),
            "suggestions": [{"suggestion": SWAP, "offered": 50, "accepted": 25}],
            "overrideReasons": [{**RED_FLAG, "count": 13}],
        },
        {
            "rule": "imaging/persistent-radiculopathy",
            **_tally(24, 12, 6, 6),
            "suggestions": [{"suggestion": MRI, "offered": 24, "accepted": 12}],
            "overrideReasons": [{**REFUSES, "count": 6}],
        },
        {
            "rule": "localisation",
            **_tally(96, 0, 0, 96),
            "suggestions": [],
            "overrideReasons": [],
        },
    ]
    assert result["suggestions"] == [
        {"suggestion": MRI, "offered": 24, "accepted": 12},
        {"suggestion": SURGICAL, "offered": 10, "accepted": 5},
        {"suggestion": SWAP, "offered": 50, "accepted": 25},
    ]
    assert result["overrideReasons"] == [
        {**RED_FLAG, "count": 13},
        {**REFUSES, "count": 6},
        {"reason": "uncoded", "count": 2},
    ]
    # nearest rank over 1..100 ms (patient-view) and 2..200 ms (order-select)
    assert result["hooks"] == [
        {
            "hook": "order-select",
            "calls": 100,
            "errors": 0,
            "latencyMs": {"p50": 100.0, "p90": 180.0, "p95": 190.0, "p99": 198.0, "max": 200.0},
        },
        {
            "hook": "order-sign",
            "calls": 100,
            "errors": 5,
            "latencyMs": {"p50": 7.5, "p90": 7.5, "p95": 7.5, "p99": 7.5, "max": 7.5},
            "errorKinds": {"internal": 5},
        },
        {
            "hook": "patient-view",
            "calls": 100,
            "errors": 4,
            "latencyMs": {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "max": 100.0},
            "errorKinds": {"prefetch-missing": 4},
        },
    ]


async def test_summary_of_a_window(seeded: Store) -> None:
    # calls 0..179 (k 0..59 per hook); from is inclusive, to exclusive
    start, end = BASE, BASE + timedelta(minutes=1800)
    result = await seeded.summary(start, end)
    assert result["from"] == start.isoformat() and result["to"] == end.isoformat()
    assert result["hookCalls"] == 180
    assert [h["calls"] for h in result["hooks"]] == [60, 60, 60]
    # patient-view k < 60 with k in {24, 49} failed: 58 localisation cards; MRI k in
    # {0, 4, …, 56} less 24 = 14 (accepted 0, 8, 16, 32, 40, 48, 56 = 7; overridden 4, 20, 36,
    # 52 = 4; none 3); cauda equina k = 5..55 = 6 (5 accepted, 55 overridden);
    # not-indicated k even < 60 = 30 (k % 4 == 0: 15 accepted; k % 8 == 2: 8 overridden; 7 none)
    assert result["indicators"] == [
        {"indicator": "critical", **_tally(6, 5, 1, 0)},
        {"indicator": "warning", **_tally(44, 22, 12, 10)},
        {"indicator": "info", **_tally(58, 0, 0, 58)},
    ]
    # the in-window unknown card counts; the one before the window does not
    assert result["feedbackWithoutCard"] == 1
    later = await seeded.summary(BASE + timedelta(minutes=1800), None)
    assert later["hookCalls"] == 120
    assert later["cards"]["shown"] + result["cards"]["shown"] == 180


async def test_report_of_the_seeded_history(seeded: Store) -> None:
    result = await seeded.summary(None, None)
    rows = list(csv.reader(io.StringIO(render_report(result, csv=True))))
    assert rows[0] == ["section", "key", "item", "metric", "value"]
    values = {tuple(r[:4]): r[4] for r in rows[1:]}
    assert values[("total", "", "", "shown")] == "180"
    assert values[("rule", "imaging/not-indicated", "", "overridden")] == "13"
    assert values[("rule-suggestion", "imaging/persistent-radiculopathy", MRI, "accepted")] == "12"
    assert values[("indicator", "critical", "", "noResponse")] == "3"
    assert values[("override-reason", REFUSES["reason"], "Patient refuses", "count")] == "6"
    assert values[("hook", "order-select", "", "p95_ms")] == "190.0"
    assert values[("hook", "patient-view", "prefetch-missing", "errorKind")] == "4"

    text = render_report(result, csv=False)
    assert (
        "Hook calls: 300. Cards shown: 180 (accepted 42, overridden 21, no response 117)." in text
    )
    lines = text.splitlines()
    row = next(line for line in lines if line.strip().startswith("imaging/not-indicated"))
    assert row.split() == ["imaging/not-indicated", "50", "25", "13", "12", "50.0"]
    row = next(line for line in lines if line.strip().startswith("order-select"))
    assert row.split() == ["order-select", "100", "0", "100.0", "180.0", "190.0", "198.0", "200.0"]


def test_percentile_is_nearest_rank() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert [percentile(values, p) for p in (5, 30, 40, 50, 100)] == [15, 20, 20, 35, 50]
    assert percentile([3.0], 99) == 3.0


def test_a_card_without_rules_is_unattributed_and_unknown_suggestions_are_named_by_id() -> None:
    card = ShownCard("c", "info", (), (("s-1", "Do it"),))
    outcome = Outcome("c", "accepted", ("s-1", "s-9"), None, None, None, BASE, 1)
    result = summarise([Call("patient-view", 1.0, 200, None)], [card, card], [outcome])
    assert result["cards"] == _tally(1, 1, 0, 0)  # the same card uuid twice is one card
    assert result["rules"][0]["rule"] == "unattributed"
    assert result["suggestions"] == [
        {"suggestion": "Do it", "offered": 1, "accepted": 1},
        {"suggestion": "s-9", "offered": 0, "accepted": 1},
    ]


def test_an_empty_window() -> None:
    result = summarise([], [], [])
    assert result == {
        "hookCalls": 0,
        "hooks": [],
        "cards": _tally(0, 0, 0, 0),
        "rules": [],
        "indicators": [],
        "suggestions": [],
        "overrideReasons": [],
    }
    assert "(none)" in render_report({**result, "feedbackWithoutCard": 0}, csv=False)


def test_feedback_counts_only_for_the_client_the_card_was_answered_to() -> None:
    site_a, site_b = ("https://ehr.example.org", "a"), ("https://ehr.example.org", "b")
    shown = [ShownCard("c", "info", ("r",), (), client=site_a), ShownCard("d", "info", ("r",), ())]
    later = BASE.replace(hour=10)
    outcomes = [
        Outcome("c", "accepted", (), None, None, None, BASE, 1, client=site_a),
        # Later, but from another client, or from none: neither may override a's answer.
        Outcome("c", "overridden", (), None, None, None, later, 2, client=site_b),
        Outcome("c", "overridden", (), None, None, None, later, 3),
        # A card shown with authentication off is answered by feedback sent with it off.
        Outcome("d", "overridden", (), None, None, None, BASE, 4),
        Outcome("d", "accepted", (), None, None, None, later, 5, client=site_a),
    ]
    result = summarise([], shown, outcomes)
    assert result["cards"] == _tally(2, 1, 1, 0)


async def test_the_summary_joins_feedback_by_card_and_client(store: Store) -> None:
    def call(n: int, issuer: str | None, tenant: str | None) -> AuditRecord:
        return AuditRecord(
            hook_instance=f"hi-{n}",
            service_id="radix-lumbar-radiculopathy",
            hook="patient-view",
            received_at=BASE,
            latency_ms=1.0,
            issuer=issuer,
            tenant=tenant,
            patient_reference="Patient/p1",
            cards=[_card("same-uuid", "info", ["r"])],
        )

    iss = "https://ehr.example.org"
    store.audit(call(1, iss, "a"))
    store.audit(call(2, None, None))
    await store.flush_audit()
    item = {"card": "same-uuid", "outcome": "overridden", "outcomeTimestamp": _at(1)}
    await store.save_feedback("radix-lumbar-radiculopathy", [item], iss, "a")
    await store.save_feedback("radix-lumbar-radiculopathy", [item], iss, "c")  # never shown
    summary = await store.summary(None, None)
    # One uuid shown to two clients is two cards; only a's was answered.
    assert summary["cards"] == _tally(2, 0, 1, 1)
    assert summary["feedbackWithoutCard"] == 1
