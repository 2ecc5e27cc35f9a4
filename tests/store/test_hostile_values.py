"""What a hostile or careless caller can put in a stored value, on SQLite and on PostgreSQL.

PostgreSQL refuses a string longer than its column and any NUL character (text and JSONB); one
refused row used to fail its whole audit batch. The store now cuts every string to its column
and drops NUL characters, so the record is kept and so is the rest of its batch.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from cds_service.store.columns import column_length
from cds_service.store.schema import audit_card, audit_event, feedback
from cds_service.store.store import Store
from tests.store.test_store import record

NUL = "\x00"


async def _rows(store: Store, table: Any) -> list[Any]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(select(table).order_by(table.c.id))).mappings())


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


async def test_oversized_and_nul_values_are_cut_to_their_columns_and_keep_their_batch(
    store: Store,
) -> None:
    hostile = record(1, cards=0)
    hostile = dataclasses.replace(
        hostile,
        hook_instance="hi-\x00-" + "h" * 400,
        service_id="s" * 300,
        hook="patient-view\x00" + "k" * 200,
        issuer="https://ehr.example.org/" + "i" * 2000,
        tenant="t\x00" * 300,
        patient_reference="Patient/" + "p" * 600,
        knowledge_version="v" * 100,
        error_kind="e" * 200,
        assessment={"note\x00": "a\x00b", "nested": [{"x": "\x00" * 3}]},
        order_ratings=[{"reference": "ServiceRequest/\x00r", "rating": "appropriate"}],
        cards=[
            {
                "uuid": "u\x00" + "u" * 300,
                "summary": "S\x00" * 400,
                "indicator": "warning\x00" * 3,
                "rules": ["rule\x00"],
                "suggestions": [{"uuid": "s\x00", "label": "L\x00"}],
            }
        ],
    )
    # Well-behaved neighbours in the same batch: the hostile record must not take them down.
    for n in (2, 3):
        store.audit(record(n))
    store.audit(hostile)
    store.audit(record(4))
    await store.flush_audit()

    events = await _rows(store, audit_event)
    cards = await _rows(store, audit_card)
    assert [e["hook_instance"][:4] for e in events] == ["hi-2", "hi-3", "hi--", "hi-4"]
    kept = events[2]
    for name in (
        "hook_instance",
        "service_id",
        "hook",
        "issuer",
        "tenant",
        "patient_reference",
        "knowledge_version",
        "error_kind",
    ):
        length = column_length(audit_event, name)
        assert length is not None and len(kept[name]) <= length, name
        assert NUL not in kept[name], name
    assert kept["hook_instance"] == ("hi--" + "h" * 400)[:256]
    assert kept["issuer"].startswith("https://ehr.example.org/i")
    assert kept["tenant"] == "t" * 256
    assert kept["assessment"] == {"note": "ab", "nested": [{"x": ""}]}
    assert kept["order_ratings"] == [{"reference": "ServiceRequest/r", "rating": "appropriate"}]
    card = next(c for c in cards if c["event_id"] == kept["id"])
    assert card["uuid"] == ("u" + "u" * 300)[:256]
    assert card["summary"] == ("S" * 400)[:512]
    assert card["indicator"] == "warningwarningwa"  # NUL dropped, then cut to 16
    assert card["rules"] == ["rule"]
    assert all(NUL not in s for s in _strings(dict(card)))
    assert card["suggestions"] == [{"uuid": "s", "label": "L"}]
    assert store.audit_failed == 0


async def test_feedback_values_are_cut_to_their_columns(store: Store) -> None:
    item = {
        "card": "c\x00" + "c" * 300,
        "outcome": "overridden",
        "outcomeTimestamp": "2026-03-02T09:31:00Z",
        "overrideReason": {
            "reason": {"system": "s" * 1500, "code": "x\x00" * 300, "display": "D\x00"},
            "userComment": "no\x00",
        },
    }
    stored = await store.save_feedback("svc\x00", [item], "i" * 2000, "t" * 300)
    assert stored == 1
    (row,) = await _rows(store, feedback)
    assert row["card_uuid"] == ("c" + "c" * 300)[:256]
    assert row["reason_system"] == "s" * 1024
    assert row["reason_code"] == "x" * 256
    assert (row["reason_display"], row["user_comment"], row["service_id"]) == ("D", "no", "svc")
    assert (len(row["issuer"]), len(row["tenant"])) == (1024, 256)
    assert row["outcome_at"] == datetime(2026, 3, 2, 9, 31, tzinfo=UTC)
