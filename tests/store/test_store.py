from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from cds_service.settings import Settings
from cds_service.store import store as store_module
from cds_service.store.audit_record import AuditRecord
from cds_service.store.feedback import identity
from cds_service.store.schema import audit_card, audit_event, feedback
from cds_service.store.store import Store
from tests.store.conftest import Backend, migrate_backend

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def record(n: int, *, received_at: datetime = T0, cards: int = 1, **extra: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "hook_instance": f"hi-{n}",
        "service_id": "radix-patient-view",
        "hook": "patient-view",
        "received_at": received_at,
        "latency_ms": 12.5,
        "issuer": "https://ehr.example.org",
        "tenant": "north",
        "patient_reference": f"Patient/p{n}",
        "cards": [
            {
                "uuid": f"card-{n}-{c}",
                "summary": "Physiotherapy referral",
                "indicator": "info",
                "rules": ["disposition/physiotherapy"],
            }
            for c in range(cards)
        ],
        "assessment": {"disposition": "physiotherapy", "rules": ["disposition/physiotherapy"]},
        "order_ratings": [],
        "knowledge_version": "2026.11.0",
        "status_code": 200,
        "error_kind": None,
    }
    fields.update(extra)
    return AuditRecord(**fields)


def item(card: str, outcome: str = "overridden", at: str = "2026-03-02T09:31:00Z", **extra: Any):
    body: dict[str, Any] = {"card": card, "outcome": outcome, "outcomeTimestamp": at}
    if outcome == "accepted":
        body["acceptedSuggestions"] = [{"id": f"{card}-s1"}]
    body.update(extra)
    return body


async def count(store: Store, table: Any) -> int:
    async with store.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_sqlite_store_from_settings_creates_its_folder_in_wal_mode(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "a" / "b")
    store = Store.from_settings(settings)
    await store.open()
    try:
        assert (tmp_path / "a" / "b" / "radix.sqlite3").is_file()
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            # 2 = FULL: an acknowledged feedback survives a power cut, not only a crash.
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar_one() == 2
        assert await store.ready()
    finally:
        await store.close()
    assert not await store.ready()


async def test_postgres_store_refuses_a_database_that_was_not_migrated(backend: Backend) -> None:
    if backend.name != "postgres":
        pytest.skip("SQLite migrates itself at start")
    store = backend.store()
    with pytest.raises(RuntimeError, match="cds-service migrate"):
        await store.open()


async def test_an_audit_record_is_kept_whole(store: Store) -> None:
    when = datetime(2026, 3, 2, 11, 30, 15, 250_000, tzinfo=timezone(timedelta(hours=2)))
    sent = record(
        1,
        received_at=when,
        cards=2,
        order_ratings=[{"reference": "ServiceRequest/mri-1", "rating": "not-appropriate"}],
        status_code=200,
    )
    store.audit(sent)
    store.audit(record(2, status_code=412, error_kind="prefetch-unavailable", cards=0))
    await store.flush_audit()
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(audit_event).order_by(audit_event.c.id))).mappings().all()
        cards = (await conn.execute(select(audit_card).order_by(audit_card.c.id))).mappings().all()
    first, second = rows
    assert first["hook_instance"] == "hi-1"
    assert first["received_at"] == when and first["received_at"].utcoffset() == timedelta(0)
    assert first["issuer"] == "https://ehr.example.org" and first["tenant"] == "north"
    assert first["patient_reference"] == "Patient/p1"
    assert first["assessment"] == sent.assessment
    assert first["order_ratings"] == sent.order_ratings
    assert first["knowledge_version"] == "2026.11.0"
    assert (first["status_code"], first["error_kind"]) == (200, None)
    assert (second["status_code"], second["error_kind"]) == (412, "prefetch-unavailable")
    assert second["order_ratings"] is None
    assert [(c["event_id"], c["uuid"], c["rules"]) for c in cards] == [
        (first["id"], "card-1-0", ["disposition/physiotherapy"]),
        (first["id"], "card-1-1", ["disposition/physiotherapy"]),
    ]


async def test_each_card_of_a_batch_joins_its_own_call(backend: Backend) -> None:
    """A batch is inserted in one statement (on SQLite, ids read back after it): every card row
    must still point at the event row of the call that gave it, whatever the batch's size."""
    await migrate_backend(backend)
    async with backend.store(audit_batch_size=50) as store:
        store.audit(record(0, cards=0))  # a gap in the cards: ids must not shift past it
        for n in range(1, 120):
            store.audit(record(n, cards=n % 3, patient_reference=f"Patient/p{n}"))
        await store.flush_audit()
        async with store.engine.connect() as conn:
            joined = (
                await conn.execute(
                    select(audit_event.c.hook_instance, audit_card.c.uuid).join(
                        audit_card, audit_card.c.event_id == audit_event.c.id
                    )
                )
            ).all()
    assert len(joined) == sum(n % 3 for n in range(1, 120))
    for hook_instance, card in joined:
        assert card.startswith(f"card-{hook_instance.removeprefix('hi-')}-")


async def test_sqlite_checks_a_batchs_ids_rather_than_trusting_them(tmp_path: Path) -> None:
    """If anything wrote between a batch's rows (here a trigger), the ids read back are not the
    batch's: the transaction is refused, not committed with cards on the wrong calls."""
    from cds_service.store.store import AuditIdsNotConsecutive

    backend = Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'radix.sqlite3'}")
    await migrate_backend(backend)
    async with backend.store() as store:
        async with store.engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TRIGGER interleave AFTER INSERT ON audit_event "
                    "WHEN NEW.hook_instance != 'other' BEGIN "
                    "INSERT INTO audit_event (hook_instance, service_id, hook, received_at, "
                    "latency_ms, status_code) VALUES ('other', 's', 'h', NEW.received_at, 0, 200);"
                    " END"
                )
            )
        with pytest.raises(AuditIdsNotConsecutive):
            await store._write_audit([record(1), record(2)])
        assert await count(store, audit_event) == 0 and await count(store, audit_card) == 0


async def test_sqlite_audit_batches_go_through_the_writers_own_thread_and_connection(
    tmp_path: Path,
) -> None:
    """On SQLite a batch's whole transaction runs on the audit thread's connection (one trip
    from the event loop), none of it on the store's async engine, in one statement per table
    (every statement step waits for the GIL); that connection is set up as the store's; the
    thread ends with the store."""
    store = Store.from_settings(Settings(data_dir=tmp_path))
    await store.open()
    audit_engine = store._audit_thread._engine  # type: ignore[union-attr]
    seen: dict[str, list[tuple[str, str]]] = {"store": [], "audit": []}

    def watch(name: str) -> Any:
        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen[name].append((threading.current_thread().name, statement))

        return before

    event.listen(store.engine.sync_engine, "before_cursor_execute", watch("store"))
    event.listen(audit_engine, "before_cursor_execute", watch("audit"))
    try:
        await store._write_audit([record(1, cards=2), record(2)])
        assert seen["store"] == []
        assert {thread.startswith("radix-audit") for thread, _ in seen["audit"]} == {True}
        statements = [statement for _, statement in seen["audit"]]
        assert [statement.split()[0] for statement in statements] == [
            "BEGIN",
            "INSERT",
            "SELECT",
            "INSERT",
        ]
        # Two events, then three cards, each table's rows in one multi-row INSERT.
        assert [statements[i].count("), (") + 1 for i in (1, 3)] == [2, 3]
        assert await count(store, audit_event) == 2 and await count(store, audit_card) == 3
        with audit_engine.connect() as conn:  # its one connection, idle between batches
            pragmas = [
                conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            ]
        assert pragmas == ["wal", 2, 10000, 1]
    finally:
        await store.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("radix-audit")]


async def test_sqlite_audit_transactions_take_turns_on_a_file_lock_between_processes(
    tmp_path: Path,
) -> None:
    """Another process's audit writer (here: another open file description of the same lock
    file, which flock treats alike) holds the turn: a batch waits for it, not in SQLite's busy
    handler, and is written the moment the turn is given back."""
    store = Store.from_settings(Settings(data_dir=tmp_path))
    await store.open()
    other = os.open(tmp_path / "radix.sqlite3.audit-lock", os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        writing = asyncio.create_task(store._write_audit([record(1)]))
        await asyncio.sleep(0.3)
        assert not writing.done()
        assert await count(store, audit_event) == 0
        fcntl.flock(other, fcntl.LOCK_UN)
        await asyncio.wait_for(writing, 2)
        assert await count(store, audit_event) == 1
        # And the writer gave the turn back: another process can take it at once.
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)
        await store.close()


async def test_an_audit_batch_waits_for_its_turn_on_the_lock_file_only_so_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A process stopped while holding the turn does not stop the others' audit trail: after
    the wait, a batch is written under SQLite's own lock, and that is logged."""
    monkeypatch.setattr(store_module, "TURN_WAIT_SECONDS", 0.2)
    store = Store.from_settings(Settings(data_dir=tmp_path))
    await store.open()
    other = os.open(tmp_path / "radix.sqlite3.audit-lock", os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        with caplog.at_level(logging.WARNING, logger="cds_service.store"):
            await asyncio.wait_for(store._write_audit([record(1)]), 5)
        assert await count(store, audit_event) == 1
        assert "held the audit lock file for 0.2 s" in caplog.text
    finally:
        os.close(other)
        await store.close()


async def test_every_audited_call_is_a_row_after_close(backend: Backend) -> None:
    await migrate_backend(backend)
    store = backend.store(audit_batch_size=17)

    async def client(c: int) -> None:
        for n in range(c * 40, (c + 1) * 40):
            store.audit(record(n))
            await asyncio.sleep(0)

    await store.open()
    await asyncio.gather(*(client(c) for c in range(25)))
    await store.close()  # drains what is still queued
    reopened = backend.store()
    await reopened.open()
    try:
        assert await count(reopened, audit_event) == 1000
        assert await count(reopened, audit_card) == 1000
        assert reopened.audit_overflow == 0 and store.audit_overflow == 0
    finally:
        await reopened.close()


async def test_close_drains_a_full_queue(backend: Backend) -> None:
    await migrate_backend(backend)
    store = backend.store(audit_queue_size=500, audit_batch_size=7)
    await store.open()
    for n in range(500):  # no await: the writer has not taken a single record yet
        store.audit(record(n, cards=2))
    assert store.audit_pending == 500
    await store.close()
    reopened = backend.store()
    await reopened.open()
    try:
        assert await count(reopened, audit_event) == 500
        assert await count(reopened, audit_card) == 1000
    finally:
        await reopened.close()


async def test_async_with_opens_the_store_and_drains_it_on_the_way_out(backend: Backend) -> None:
    await migrate_backend(backend)
    async with backend.store(audit_batch_size=7) as store:
        assert await store.ready()
        for n in range(50):  # no await: still queued when the block ends
            store.audit(record(n))
    assert not await store.ready()
    async with backend.store() as reopened:
        assert await count(reopened, audit_event) == 50


async def test_overflow_is_counted_and_logged_and_the_call_goes_on(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    await migrate_backend(backend)
    store = backend.store(audit_queue_size=5)
    await store.open()
    with caplog.at_level(logging.WARNING, logger="cds_service.store"):
        for n in range(20):
            store.audit(record(n))  # never raises, never waits
    assert store.audit_overflow == 15
    assert any("audit record dropped" in r.getMessage() for r in caplog.records)
    await store.close()
    store.audit(record(99))  # after close: counted, not raised
    assert store.audit_overflow == 16
    reopened = backend.store()
    await reopened.open()
    try:
        assert await count(reopened, audit_event) == 5
    finally:
        await reopened.close()


async def test_feedback_repeats_are_not_new_rows(store: Store) -> None:
    first = item("c1", "accepted", "2026-03-02T09:31:00Z")
    first["acceptedSuggestions"] = [{"id": "b"}, {"id": "a"}]
    assert await store.save_feedback("svc", [first], "iss", "north") == 1
    same = item("c1", "accepted", "2026-03-02T10:31:00.000+01:00")
    same["acceptedSuggestions"] = [{"id": "a"}, {"id": "b"}, {"id": "a"}]
    assert await store.save_feedback("svc", [same, same], "iss", "north") == 0
    assert await store.save_feedback("svc", [first], "iss", "south") == 1  # another tenant
    later = item("c1", "overridden", "2026-03-02T09:35:00Z", overrideReason={"userComment": "no"})
    assert await store.save_feedback("svc", [later, first], "iss", "north") == 1
    assert await count(store, feedback) == 3


async def test_feedback_fields_are_stored(store: Store) -> None:
    body = item(
        "c9",
        "overridden",
        "2026-03-02t09:31:00.5z",
        overrideReason={
            "reason": {
                "system": "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes",
                "code": "patient-refuses",
                "display": "Patient refuses",
            },
            "userComment": "Wants to wait",
        },
    )
    assert await store.save_feedback("radix-order-select", [body], None, None) == 1
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(feedback))).mappings().one()
    assert row["identity"] == identity("radix-order-select", body, None, None)
    assert row["card_uuid"] == "c9" and row["outcome"] == "overridden"
    assert row["reason_code"] == "patient-refuses" and row["reason_display"] == "Patient refuses"
    assert row["user_comment"] == "Wants to wait" and row["accepted_suggestions"] is None
    assert row["outcome_at"] == datetime(2026, 3, 2, 9, 31, 0, 500_000, tzinfo=UTC)
    assert (row["issuer"], row["tenant"]) == (None, None)


async def test_feedback_is_committed_when_save_returns(backend: Backend, store: Store) -> None:
    await store.save_feedback("svc", [item("durable")], "iss", None)
    other = backend.engine()  # another connection pool, as another process would see it
    try:
        async with other.connect() as conn:
            cards = (await conn.execute(select(feedback.c.card_uuid))).scalars().all()
    finally:
        await other.dispose()
    assert cards == ["durable"]


async def test_concurrent_feedback_with_repeats_leaves_exactly_the_distinct_rows(
    store: Store,
) -> None:
    rng = random.Random(5)
    distinct = [
        item(
            f"card-{n % 240}",
            "accepted" if n % 2 else "overridden",
            f"2026-03-02T09:{n % 60:02d}:00Z",
            overrideReason={"userComment": "x"},
        )
        for n in range(400)
    ]
    # every distinct item goes out at least once, most of them several times, some respelled
    posts = [[distinct[n % 400], *rng.sample(distinct, rng.randint(0, 2))] for n in range(1000)]
    posts = [[_respelled(i) if rng.random() < 0.3 else i for i in post] for post in posts]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for post in posts:
        queue.put_nowait(post)
    inserted: list[int] = []

    async def client() -> None:
        while not queue.empty():
            inserted.append(await store.save_feedback("svc", queue.get_nowait(), "iss", "t"))

    await asyncio.gather(*(client() for _ in range(50)))
    # card n and card n + 240 coincide (same card, outcome and minute): repeats across the list
    expected = {
        (i["card"], i["outcome"], i["outcomeTimestamp"].replace("+00:00", "Z"))
        for post in posts
        for i in post
    }
    assert len(expected) == 240
    assert len(inserted) == 1000
    assert await count(store, feedback) == len(expected) == sum(inserted)
    async with store.engine.connect() as conn:
        stored = (await conn.execute(select(feedback.c.card_uuid, feedback.c.outcome))).all()
    assert sorted(stored) == sorted((card, outcome) for card, outcome, _ in expected)


def _respelled(body: dict[str, Any]) -> dict[str, Any]:
    """The same feedback with its instant written another way, as a retrying client might."""
    return {**body, "outcomeTimestamp": body["outcomeTimestamp"].replace("Z", "+00:00")}


async def test_purge_removes_old_calls_their_cards_and_old_feedback(store: Store) -> None:
    now = datetime.now(UTC)
    for n in range(3):
        store.audit(record(n, received_at=now - timedelta(days=40), cards=2))
    for n in range(3, 5):
        store.audit(record(n, received_at=now - timedelta(days=5), cards=2))
    await store.flush_audit()
    await store.save_feedback("svc", [item("card-3-0")], "iss", None)
    async with store.engine.begin() as conn:  # feedback received long ago
        await conn.execute(
            feedback.insert().values(
                identity="old",
                service_id="svc",
                card_uuid="card-0-0",
                outcome="overridden",
                outcome_at=now - timedelta(days=40),
                received_at=now - timedelta(days=40),
            )
        )
    assert await store.purge(timedelta(days=30)) == 3
    assert await count(store, audit_event) == 2
    assert await count(store, audit_card) == 4
    async with store.engine.connect() as conn:
        left = (await conn.execute(select(feedback.c.card_uuid))).scalars().all()
    assert left == ["card-3-0"]
    assert await store.purge(timedelta(days=30)) == 0


async def test_retention_setting_purges_at_start(backend: Backend) -> None:
    await migrate_backend(backend)
    seeding = backend.store()
    await seeding.open()
    seeding.audit(record(1, received_at=datetime.now(UTC) - timedelta(days=10)))
    seeding.audit(record(2, received_at=datetime.now(UTC) - timedelta(days=1)))
    await seeding.close()
    store = backend.store(retention_days=7)
    await store.open()
    try:
        for _ in range(200):  # the daily purge runs first thing after open
            if await count(store, audit_event) == 1:
                break
            await asyncio.sleep(0.05)
        async with store.engine.connect() as conn:
            left = (await conn.execute(select(audit_event.c.hook_instance))).scalars().all()
        assert left == ["hi-2"]
    finally:
        await store.close()
