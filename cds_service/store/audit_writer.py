"""A bounded queue of audit records and the task that writes them in batches, off the hot path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from cds_service.store.audit_record import AuditRecord

logger = logging.getLogger("cds_service.store.audit")

Write = Callable[[Sequence[AuditRecord]], Awaitable[None]]

#: Pauses before retrying a failed batch: rides out a database restart or failover.
RETRY_DELAYS: tuple[float, ...] = (0.05, 0.25, 1.0, 3.0)
_OVERFLOW_LOG_SECONDS = 10.0


class AuditWriter:
    """Accept records without waiting; write them in batches; on close, write every one accepted."""

    def __init__(
        self,
        write: Write,
        *,
        queue_size: int,
        batch_size: int,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self._write = write
        self._queue: asyncio.Queue[AuditRecord] = asyncio.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._retry_delays = tuple(retry_delays)
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self._overflow_logged_at = -_OVERFLOW_LOG_SECONDS
        #: Records refused because the queue was full or the writer closed.
        self.overflow = 0
        #: Records accepted but not written after every retry (each is logged).
        self.failed = 0
        #: Records written.
        self.written = 0
        #: Records taken since start, and of those how many are settled (written or given up
        #: on, in the order taken): a record numbered n is settled once ``settled >= n``.
        self.accepted = 0
        self.settled = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="radix-audit-writer")

    def put(self, record: AuditRecord) -> bool:
        """Queue ``record``; False (counted and logged, never raised) when it cannot be taken."""
        if self._accepting:
            try:
                self._queue.put_nowait(record)
                self.accepted += 1
                return True
            except asyncio.QueueFull:
                pass
        self.overflow += 1
        now = time.monotonic()
        # One line per interval: an overloaded service must not also flood its log.
        if now - self._overflow_logged_at >= _OVERFLOW_LOG_SECONDS:
            self._overflow_logged_at = now
            logger.warning(
                "audit record dropped (%s): hook_instance=%s, %d dropped so far",
                "queue full" if self._accepting else "writer closed",
                record.hook_instance,
                self.overflow,
            )
        return False

    async def wait_settled(self, number: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s until the record numbered ``number`` is written or given up
        on; False if the time ran out first."""
        if self.settled >= number:
            return True
        waiter = asyncio.get_running_loop().create_future()
        entry = (number, waiter)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _settle(self, count: int) -> None:
        self.settled += count
        for number, waiter in self._waiters:
            if number <= self.settled and not waiter.done():
                waiter.set_result(None)

    async def flush(self) -> None:
        """Wait until every record accepted so far has been written (or given up on)."""
        if self.running:
            await self._queue.join()

    async def close(self) -> None:
        """Stop accepting, write everything already accepted, then stop the task."""
        self._accepting = False
        if self._task is None:
            return
        drained = asyncio.create_task(self._queue.join())
        # If the writer task died the queue never empties; do not hang shutdown on it.
        await asyncio.wait({drained, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not drained.done():
            drained.cancel()
            logger.error("audit writer stopped with %d records unwritten", self.pending)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._write_batch(batch)
            finally:
                self._settle(len(batch))
                for _ in batch:
                    self._queue.task_done()

    async def _write_batch(self, batch: list[AuditRecord]) -> None:
        for delay in (*self._retry_delays, None):
            try:
                await self._write(batch)
                self.written += len(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if delay is None:
                    break
                logger.warning("audit batch of %d failed; retrying", len(batch), exc_info=True)
                await asyncio.sleep(delay)
        # One bad record must not take the rest of its batch with it.
        for record in batch:
            try:
                await self._write([record])
                self.written += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failed += 1
                logger.exception(
                    "audit record lost: hook_instance=%s service=%s",
                    record.hook_instance,
                    record.service_id,
                )
