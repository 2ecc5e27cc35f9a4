from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from cds_service.store.audit_record import AuditRecord
from cds_service.store.audit_writer import AuditWriter
from cds_service.store.errors import is_transient


def record(n: int) -> AuditRecord:
    return AuditRecord(
        hook_instance=f"hi-{n}",
        service_id="svc",
        hook="patient-view",
        received_at=datetime(2026, 3, 2, tzinfo=UTC),
        latency_ms=1.0,
        issuer=None,
        tenant=None,
        patient_reference=None,
    )


class Sink:
    """A destination that keeps what it is given and refuses what it is told to refuse."""

    def __init__(self, refuse: set[str] = frozenset(), fail_first: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.refuse = refuse
        self.fail_first = fail_first

    async def __call__(self, records: Sequence[AuditRecord]) -> None:
        await asyncio.sleep(0)
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("database restarting")
        if any(r.hook_instance in self.refuse for r in records):
            raise ValueError("cannot store this record")
        self.batches.append([r.hook_instance for r in records])

    @property
    def written(self) -> list[str]:
        return [h for batch in self.batches for h in batch]


async def test_records_are_written_in_batches_no_larger_than_configured() -> None:
    sink = Sink()
    writer = AuditWriter(sink, queue_size=100, batch_size=8)
    writer.start()
    for n in range(50):
        assert writer.put(record(n))
    await writer.close()
    assert sink.written == [f"hi-{n}" for n in range(50)]
    assert max(len(b) for b in sink.batches) == 8
    assert writer.written == 50


async def test_a_failed_batch_is_retried() -> None:
    sink = Sink(fail_first=2)
    writer = AuditWriter(sink, queue_size=10, batch_size=10, retry_delays=(0, 0, 0))
    writer.start()
    for n in range(5):
        writer.put(record(n))
    await writer.close()
    assert sink.written == [f"hi-{n}" for n in range(5)]
    assert writer.failed == 0


async def test_one_unwritable_record_does_not_lose_its_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink(refuse={"hi-3"})
    writer = AuditWriter(sink, queue_size=10, batch_size=10, retry_delays=(0,))
    writer.start()
    for n in range(6):
        writer.put(record(n))
    with caplog.at_level(logging.ERROR, logger="cds_service.store"):
        await writer.close()
    assert sorted(sink.written) == ["hi-0", "hi-1", "hi-2", "hi-4", "hi-5"]
    assert writer.failed == 1
    assert any("hi-3" in r.getMessage() for r in caplog.records)


async def test_overflow_is_logged_once_per_interval_but_always_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = AuditWriter(Sink(), queue_size=2, batch_size=1)
    writer.start()
    with caplog.at_level(logging.WARNING, logger="cds_service.store"):
        accepted = [writer.put(record(n)) for n in range(10)]
    assert accepted == [True, True] + [False] * 8
    assert writer.overflow == 8
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1
    await writer.close()
    assert writer.written == 2


async def test_flush_waits_for_what_was_queued() -> None:
    sink = Sink()
    writer = AuditWriter(sink, queue_size=10, batch_size=3)
    writer.start()
    for n in range(7):
        writer.put(record(n))
    await writer.flush()
    assert len(sink.written) == 7 and writer.running
    await writer.close()
    assert not writer.running


class Database:
    """A destination that can be taken down: while down, every write and every probe fails."""

    def __init__(self) -> None:
        self.down = False
        self.written: list[str] = []
        self.attempts = 0

    async def write(self, records: Sequence[AuditRecord]) -> None:
        await asyncio.sleep(0)
        self.attempts += 1
        if self.down:
            raise ConnectionRefusedError("connection refused")
        self.written.extend(r.hook_instance for r in records)

    async def reachable(self) -> bool:
        return not self.down


async def test_an_outage_loses_nothing_that_was_queued() -> None:
    database = Database()
    writer = AuditWriter(
        database.write,
        queue_size=100,
        batch_size=4,
        reachable=database.reachable,
        retry_delays=(0,),
        outage_backoff=(0.001, 0.01),
    )
    writer.start()
    writer.put(record(0))
    await writer.flush()
    database.down = True
    for n in range(1, 30):
        assert writer.put(record(n))
    # Far more attempts than the old retry schedule allowed, and still nothing dropped.
    while database.attempts < 40:
        await asyncio.sleep(0.005)
    assert writer.waiting_for_database and writer.failed == 0
    assert writer.pending == 29 and database.written == ["hi-0"]
    database.down = False
    await writer.flush()
    assert database.written == [f"hi-{n}" for n in range(30)]
    assert not writer.waiting_for_database and writer.failed == 0 and writer.written == 30
    await writer.close()


async def test_records_beyond_the_queue_during_an_outage_are_counted_as_overflow() -> None:
    database = Database()
    database.down = True
    writer = AuditWriter(
        database.write,
        queue_size=5,
        batch_size=5,
        reachable=database.reachable,
        outage_backoff=(0.001, 0.01),
    )
    writer.start()
    accepted = [writer.put(record(n)) for n in range(5)]
    await asyncio.sleep(0.02)  # the writer holds the first batch; the queue has room again
    accepted += [writer.put(record(n)) for n in range(5, 15)]
    assert accepted.count(False) == writer.overflow == 5
    database.down = False
    await writer.close()
    assert len(database.written) == 10 and writer.failed == 0


async def test_shutdown_during_an_outage_gives_up_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = Database()
    database.down = True
    writer = AuditWriter(
        database.write,
        queue_size=10,
        batch_size=2,
        reachable=database.reachable,
        outage_backoff=(0.001, 0.01),
        close_grace=0.2,
    )
    writer.start()
    for n in range(5):
        writer.put(record(n))
    with caplog.at_level(logging.ERROR, logger="cds_service.store"):
        await asyncio.wait_for(writer.close(), timeout=5)
    assert writer.failed == 5 and database.written == []
    assert any("5 records unwritten" in r.getMessage() for r in caplog.records)


async def test_a_refused_record_is_lost_alone_without_its_text_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Refusing(Sink):
        async def __call__(self, records: Sequence[AuditRecord]) -> None:
            if any(r.hook_instance == "hi-2" for r in records):
                raise ValueError("Failing row contains (Patient/p-secret, {assessment})")
            await super().__call__(records)

    sink = Refusing()
    writer = AuditWriter(sink, queue_size=10, batch_size=10, retry_delays=(0,))
    writer.start()
    for n in range(4):
        writer.put(record(n))
    with caplog.at_level(logging.WARNING, logger="cds_service.store"):
        await writer.close()
    assert sorted(sink.written) == ["hi-0", "hi-1", "hi-3"] and writer.failed == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "ValueError" in logged and "hi-2" in logged
    assert "Patient/" not in logged and "Failing row" not in logged
    assert all(r.exc_info is None for r in caplog.records)


async def test_a_database_that_answers_but_cannot_write_yet_is_waited_for() -> None:
    """A standby during failover answers SELECT 1 but refuses writes (SQLSTATE 25006)."""

    class ReadOnly(Exception):
        sqlstate = "25006"

    class Standby(Database):
        async def write(self, records: Sequence[AuditRecord]) -> None:
            if self.down:
                self.attempts += 1
                error = RuntimeError("read-only")
                error.orig = ReadOnly()  # type: ignore[attr-defined]
                raise error
            await super().write(records)

    database = Standby()
    database.down = True
    writer = AuditWriter(
        database.write,
        queue_size=10,
        batch_size=10,
        reachable=_answers,
        transient=is_transient,
        retry_delays=(0,),
        outage_backoff=(0.001, 0.01),
    )
    writer.start()
    for n in range(3):
        writer.put(record(n))
    while database.attempts < 10:
        await asyncio.sleep(0.005)
    assert writer.failed == 0 and writer.waiting_for_database
    database.down = False
    await writer.close()
    assert database.written == ["hi-0", "hi-1", "hi-2"] and writer.failed == 0


async def _answers() -> bool:
    return True


async def test_a_call_waits_for_its_own_record_and_no_longer_than_its_timeout() -> None:
    """``wait_settled``: True once the record numbered n is written (at once if it already is),
    False when the time runs out first; a wait that ends any way, cancelled included, leaves
    nothing registered behind."""
    release = asyncio.Event()

    async def slow(records: Sequence[AuditRecord]) -> None:
        await release.wait()

    writer = AuditWriter(slow, queue_size=10, batch_size=1)
    writer.start()
    assert writer.put(record(1)) and writer.accepted == 1
    assert await writer.wait_settled(1, 0.05) is False
    waiting = asyncio.create_task(writer.wait_settled(1, 10))
    cancelled = asyncio.create_task(writer.wait_settled(1, 10))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    release.set()
    assert await waiting is True
    assert await writer.wait_settled(1, 0) is True
    assert writer._waiters == []
    await writer.close()
