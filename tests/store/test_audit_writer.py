from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from cds_service.store.audit_record import AuditRecord
from cds_service.store.audit_writer import AuditWriter


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
