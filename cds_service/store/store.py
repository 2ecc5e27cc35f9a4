"""The store: audit trail, feedback and analytics on SQLite (embedded) or PostgreSQL (replicas)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from cds_service.lifecycle import AsyncResource
from cds_service.settings import Settings
from cds_service.store import analytics
from cds_service.store.audit_record import AuditCard, AuditRecord
from cds_service.store.audit_writer import CLOSE_GRACE_SECONDS, AuditWriter
from cds_service.store.columns import fit_row
from cds_service.store.engine import (
    BUSY_TIMEOUT_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    create_engine,
    is_sqlite,
    sqlite_path,
    sync_sqlite_engine,
)
from cds_service.store.errors import DATABASE_ERRORS, StoreUnavailable, is_transient
from cds_service.store.feedback import feedback_rows
from cds_service.store.schema import audit_card, audit_event
from cds_service.store.schema import feedback as _feedback
from cds_service.store.schema_version import HEAD_REVISION, stored_revision

logger = logging.getLogger("cds_service.store")

_DAY = 86_400.0


class Store(AsyncResource):
    """One storage layer over SQLAlchemy async; the backend is chosen by the database URL.

    ``async with Store(url) as store:`` opens it and, on the way out, drains the audit queue
    before the database is released (``open`` and ``close`` do the same by hand).
    """

    def __init__(
        self,
        url: str,
        *,
        audit_queue_size: int = 10_000,
        audit_batch_size: int = 200,
        retention_days: int = 0,
        connect_args: dict[str, Any] | None = None,
        audit_close_grace: float = CLOSE_GRACE_SECONDS,
    ) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        self._connect_args = connect_args
        self._retention_days = retention_days
        self._engine: AsyncEngine | None = None
        self._writer = AuditWriter(
            self._write_audit,
            queue_size=audit_queue_size,
            batch_size=audit_batch_size,
            reachable=self._database_answers,
            transient=is_transient,
            close_grace=audit_close_grace,
        )
        # SQLite has one writer at a time; queueing here is cheaper than its busy-wait loop.
        self._write_lock = asyncio.Lock() if self.sqlite else None
        #: SQLite in a file: the audit writer's own thread and connection (set while open).
        self._audit_thread: _AuditThread | None = None
        self._retention: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(
            settings.sqlalchemy_url,
            audit_queue_size=settings.audit_queue_size,
            audit_batch_size=settings.audit_batch_size,
            retention_days=settings.audit_retention_days,
        )

    @property
    def audit_overflow(self) -> int:
        """Audit records refused (queue full or store closed) since start."""
        return self._writer.overflow

    @property
    def audit_failed(self) -> int:
        """Audit records accepted but lost to database errors after every retry."""
        return self._writer.failed

    @property
    def audit_pending(self) -> int:
        return self._writer.pending

    @property
    def audit_written(self) -> int:
        return self._writer.written

    @property
    def audit_waiting_for_database(self) -> bool:
        """True while the audit writer holds records back until the database answers again."""
        return self._writer.waiting_for_database

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("store is not open")
        return self._engine

    async def _open(self) -> None:
        await self.open()

    async def aclose(self) -> None:
        await self.close()

    async def open(self) -> None:
        """SQLite: create its folder and migrate to head. PostgreSQL: refuse a stale schema."""
        path = sqlite_path(self.url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._engine = create_engine(self.url, self._connect_args)
        try:
            async with self._engine.begin() as conn:
                found = await stored_revision(conn)
                if found != HEAD_REVISION:
                    if not self.sqlite:
                        raise RuntimeError(
                            f"database schema is at {found or 'no revision'}, this service "
                            f"needs {HEAD_REVISION}: run `cds-service migrate`"
                        )
                    # Alembic only now: a new or older embedded database is upgraded here.
                    from cds_service.store.migration import upgrade

                    await upgrade(conn)
        except BaseException:
            await self._engine.dispose()
            self._engine = None
            raise
        if path is not None:
            self._audit_thread = _AuditThread(self.url, self._connect_args)
        self._writer.start()
        if self._retention_days > 0:
            self._retention = asyncio.create_task(self._purge_daily(), name="radix-retention")

    async def close(self) -> None:
        """Write every audit record already accepted, then release the database."""
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
            self._retention = None
        await self._writer.close()
        if self._audit_thread is not None:
            await self._audit_thread.close()
            self._audit_thread = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def audit(self, record: AuditRecord) -> int | None:
        """Queue a hook call's record; never waits, never raises (overflow is counted).

        Returns the record's number for ``audit_committed``, or None if it was not taken.
        """
        try:
            if self._writer.put(record):
                return self._writer.accepted
        except Exception as exc:  # the answer to the EHR must not depend on its audit record
            logger.error("audit record refused (%s)", type(exc).__name__)
        return None

    async def audit_committed(self, number: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s for record ``number``'s transaction (or for it to be given
        up on after every retry); False if the time ran out first."""
        return await self._writer.wait_settled(number, timeout)

    async def flush_audit(self) -> None:
        """Wait until every audit record queued so far is written (reports, tests)."""
        await self._writer.flush()

    async def save_feedback(
        self,
        service_id: str,
        feedback: list[dict[str, Any]],
        issuer: str | None,
        tenant: str | None,
    ) -> int:
        """Store schema-valid feedback items; return how many were new (repeats are not).

        Committed when it returns. Identity of an item: ``cds_service.store.feedback``.
        Raises ``StoreUnavailable`` when the database cannot store them now.
        """
        rows = [
            fit_row(_feedback, row)
            for row in feedback_rows(service_id, feedback, issuer, tenant, datetime.now(UTC))
        ]
        if not rows:
            return 0
        dialect_insert = sqlite.insert if self.sqlite else postgresql.insert
        statement = (
            dialect_insert(_feedback)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[_feedback.c.identity])
            .returning(_feedback.c.id)
        )
        try:
            async with self._writing(), self.engine.begin() as conn:
                return len((await conn.execute(statement)).all())
        except DATABASE_ERRORS as exc:
            logger.warning(
                "feedback not stored: %d items, the database failed (%s)",
                len(rows),
                type(exc).__name__,
                extra={"error_class": type(exc).__name__},
            )
            raise StoreUnavailable("feedback", exc) from None

    async def ready(self) -> bool:
        """True when the database answers and the audit writer runs."""
        if self._engine is None or not self._writer.running:
            return False
        return await self._database_answers(log=True)

    async def _database_answers(self, *, log: bool = False) -> bool:
        """Whether the database answers ``SELECT 1`` now (within the connect timeout)."""
        if self._engine is None:
            return False
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS + 1):
                async with self._engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:
            if log:
                logger.warning("store not ready (%s)", type(exc).__name__)
            return False
        return True

    async def summary(self, start: datetime | None, end: datetime | None) -> analytics.Summary:
        """Analytics of the hook calls received in [start, end); see ``store.analytics``.

        Raises ``StoreUnavailable`` when the database cannot be read now.
        """
        try:
            async with self.engine.begin() as conn:
                return await analytics.summary(conn, start, end)
        except DATABASE_ERRORS as exc:
            logger.warning(
                "analytics not read: the database failed (%s)",
                type(exc).__name__,
                extra={"error_class": type(exc).__name__},
            )
            raise StoreUnavailable("analytics", exc) from None

    async def purge(self, older_than: timedelta) -> int:
        """Delete audit and feedback rows older than ``older_than``; return hook calls removed."""
        cutoff = datetime.now(UTC) - older_than
        old_events = select(audit_event.c.id).where(audit_event.c.received_at < cutoff)
        async with self._writing(), self.engine.begin() as conn:
            await conn.execute(delete(audit_card).where(audit_card.c.event_id.in_(old_events)))
            removed = await conn.execute(
                delete(audit_event).where(audit_event.c.received_at < cutoff)
            )
            await conn.execute(delete(_feedback).where(_feedback.c.received_at < cutoff))
        return removed.rowcount

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    async def _write_audit(self, records: Sequence[AuditRecord]) -> None:
        async with self._writing():
            if self._audit_thread is not None:
                await self._audit_thread.write(records)
            else:
                async with self.engine.begin() as conn:
                    await conn.run_sync(_write_audit_batch, records)

    async def _purge_daily(self) -> None:
        while True:
            try:
                removed = await self.purge(timedelta(days=self._retention_days))
                logger.info(
                    "retention: %d audit records older than %d days purged",
                    removed,
                    self._retention_days,
                )
            except Exception as exc:
                logger.error(
                    "retention purge failed (%s); trying again tomorrow", type(exc).__name__
                )
            await asyncio.sleep(_DAY)


# The statements of an audit batch, built once: an SQL expression built per call leaves
# reference cycles for the GC (tests/app/test_gc.py).
_INSERT_EVENTS = insert(audit_event)
_INSERT_EVENTS_RETURNING_IDS = insert(audit_event).returning(
    audit_event.c.id, sort_by_parameter_order=True
)
_INSERT_CARDS = insert(audit_card)
_RECENT_EVENTS = (
    select(audit_event.c.id, audit_event.c.hook_instance)
    .where(audit_event.c.id > func.last_insert_rowid() - bindparam("count"))
    .order_by(audit_event.c.id)
    .subquery()
)
#: Of the ``count`` ids up to the last one inserted on this connection: the largest, and the
#: hook instances of those rows in id order, in one row (one step of the statement).
_LAST_INSERTED_EVENTS = select(
    func.max(_RECENT_EVENTS.c.id), func.json_group_array(_RECENT_EVENTS.c.hook_instance)
)


class AuditIdsNotConsecutive(RuntimeError):
    """SQLite did not number a batch's rows one after another (never seen; see below)."""


def _insert_events_on_sqlite(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert a batch of audit events in one statement; their ids, in the order of ``rows``.

    SQLAlchemy cannot batch an ordered ``INSERT ... RETURNING`` on SQLite and sends one statement
    per row. Here the rows go in one multi-row ``INSERT`` (the engine's "insertmanyvalues").
    SQLite gives a new row the id one above the table's largest, and nothing else writes while
    this transaction holds the write lock, so the batch holds the ``len(rows)`` ids up to
    ``last_insert_rowid()``; the hook instances of those ids are read back and checked against
    the batch rather than assumed (a mismatch rolls the transaction back, and the writer
    retries the batch).

    Every step of a statement lets go of the GIL and waits to get it back from the event loop,
    up to the interpreter's switch interval (5 ms) each time: a step per row made a batch's
    commit, which every call in it waits for, last tens of milliseconds under load. So: one
    statement for the rows, one row for the read-back.
    """
    conn.execute(_INSERT_EVENTS, rows)
    last, instances = conn.execute(_LAST_INSERTED_EVENTS, {"count": len(rows)}).one()
    if orjson.loads(instances) != [r["hook_instance"] for r in rows]:
        raise AuditIdsNotConsecutive("the batch's audit rows are not numbered consecutively")
    return list(range(last - len(rows) + 1, last + 1))


def _write_audit_batch(conn: Connection, records: Sequence[AuditRecord]) -> None:
    """One transaction's work: the batch's events, then the cards of each under its id."""
    rows = [_event_row(r) for r in records]
    if conn.dialect.name == "sqlite":
        ids = _insert_events_on_sqlite(conn, rows)
    else:
        ids = list(conn.execute(_INSERT_EVENTS_RETURNING_IDS, rows).scalars().all())
    cards = [
        _card_row(event_id, card)
        for event_id, record in zip(ids, records, strict=True)
        for card in record.cards
    ]
    if cards:
        conn.execute(_INSERT_CARDS, cards)


#: Longest an audit batch waits for its turn on the lock file before it is written without: as
#: long as SQLite's own wait for its lock (``busy_timeout``).
TURN_WAIT_SECONDS = BUSY_TIMEOUT_SECONDS


class _AuditThread:
    """SQLite: each audit batch written in one trip to a thread of its own.

    Through the async engine every step of a batch's transaction (begin, insert, read-back,
    cards, commit, the connection's reset) is a trip to aiosqlite's thread and back, each
    waiting for the GIL to change hands: ≈1.6 ms of the event loop's CPU per transaction,
    ≈150 µs per row, under load. Here one call on a thread that owns a synchronous connection to
    the same file does the whole transaction: ≈0.1 ms and ≈20 µs of the loop's CPU. The store's
    write lock is held around it, as around every write on SQLite.

    Between processes (``serve --workers`` on one file) the transactions take turns on a file
    lock beside the database (``<database>.audit-lock``) before SQLite's own. A writer that
    finds SQLite's lock taken sleeps in SQLite's busy handler, whose naps grow to 100 ms and do
    not end when the lock is freed: with 2 workers under load a batch waited up to 330 ms for a
    lock held ≈4 ms at a time, and every call in it with it (p99 0.25-0.75 s). One waiting for
    the file lock asks for it every half millisecond (p99 35-90 ms). The file lock only orders the
    writers; SQLite's lock still guards the data: a turn not had within ``TURN_WAIT_SECONDS``
    (a process stopped while holding it) is written without, never blocked on for good.
    """

    def __init__(self, url: str, connect_args: dict[str, Any] | None) -> None:
        self._engine = sync_sqlite_engine(url, connect_args)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="radix-audit")
        lock_file = f"{sqlite_path(url)}.audit-lock"
        self._turns = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)

    async def write(self, records: Sequence[AuditRecord]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._write, records)

    def _write(self, records: Sequence[AuditRecord]) -> None:
        turn = self._take_turn()
        try:
            with self._engine.begin() as conn:
                _write_audit_batch(conn, records)
        finally:
            if turn:
                fcntl.flock(self._turns, fcntl.LOCK_UN)

    def _take_turn(self) -> bool:
        deadline = time.monotonic() + TURN_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(self._turns, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    logger.warning(
                        "audit: another process has held the audit lock file for %.1f s; "
                        "writing this batch without waiting for it",
                        TURN_WAIT_SECONDS,
                    )
                    return False
                time.sleep(0.0005)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown()
        os.close(self._turns)


def _event_row(record: AuditRecord) -> dict[str, Any]:
    return fit_row(
        audit_event,
        {
            "hook_instance": record.hook_instance,
            "service_id": record.service_id,
            "hook": record.hook,
            "received_at": record.received_at,
            "latency_ms": float(record.latency_ms),
            "issuer": record.issuer,
            "tenant": record.tenant,
            "patient_reference": record.patient_reference,
            "assessment": record.assessment,
            "order_ratings": [dict(r) for r in record.order_ratings] or None,
            "knowledge_version": record.knowledge_version,
            "status_code": record.status_code,
            "error_kind": record.error_kind,
        },
    )


def _card_row(event_id: int, card: AuditCard) -> dict[str, Any]:
    suggestions = [
        {"uuid": str(s["uuid"]), **({"label": str(s["label"])} if s.get("label") else {})}
        for s in card.get("suggestions") or ()
        if isinstance(s, dict) and s.get("uuid")
    ]
    return fit_row(
        audit_card,
        {
            "event_id": event_id,
            "uuid": str(card.get("uuid") or ""),
            "summary": str(card.get("summary", "")),
            "indicator": str(card.get("indicator", "")),
            "rules": [str(r) for r in card.get("rules") or ()],
            "suggestions": suggestions or None,
        },
    )
