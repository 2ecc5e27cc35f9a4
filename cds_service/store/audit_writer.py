"""A bounded queue of audit records and the task that writes them in batches, off the hot path.

Two kinds of failure are told apart by asking the database whether it answers:

- **The database cannot be reached** (stopped, restarting, failing over, network gone, read-only
  or full): the error says so (``transient``), or the database does not answer a probe. Nothing
  is dropped. The batch is kept and tried again with a growing pause (``OUTAGE_BACKOFF``) until
  the database answers; meanwhile hook calls are still answered and their records queue up. A
  record is lost only when the queue is full (counted as overflow) or when the service shuts
  down while the database is still unreachable (after ``close_grace`` seconds, counted as
  failed). So every answered call has its row for any outage shorter than the queue.
- **The database answers but refuses the batch** (a deadlock, a row it will not take): the batch
  is retried a few times (``RETRY_DELAYS``), then written record by record so that one bad
  record cannot take the rest of its batch with it; a record still refused is counted as failed.

Logs name the error class and counts only: a database error's text can quote the values it
refused, and an audit record holds a patient reference and an assessment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from cds_service.log_format import clip
from cds_service.store.audit_record import AuditRecord

logger = logging.getLogger("cds_service.store.audit")

Write = Callable[[Sequence[AuditRecord]], Awaitable[None]]
#: Whether the database answers now (a cheap query); never raises.
Reachable = Callable[[], Awaitable[bool]]
#: Whether a write's error says the database is unavailable for now (not the data refused).
Transient = Callable[[BaseException], bool]

#: Pauses before retrying a batch the database refused while it answered.
RETRY_DELAYS: tuple[float, ...] = (0.05, 0.25, 1.0)
#: First and longest pause between attempts while the database cannot be reached; the pause
#: doubles from the first to the longest, so a restarted database is written to within seconds.
OUTAGE_BACKOFF: tuple[float, float] = (0.1, 5.0)
#: On shutdown, how long to keep waiting for an unreachable database before giving up.
CLOSE_GRACE_SECONDS = 10.0
_LOG_INTERVAL_SECONDS = 10.0


def _resolve(waiter: asyncio.Future[bool], settled: bool) -> None:
    if not waiter.done():
        waiter.set_result(settled)


async def _always_reachable() -> bool:
    return True


def _never_transient(error: BaseException) -> bool:
    return False


class AuditWriter:
    """Accept records without waiting; write them in batches; on close, write every one accepted."""

    def __init__(
        self,
        write: Write,
        *,
        queue_size: int,
        batch_size: int,
        reachable: Reachable = _always_reachable,
        transient: Transient = _never_transient,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        outage_backoff: tuple[float, float] = OUTAGE_BACKOFF,
        close_grace: float = CLOSE_GRACE_SECONDS,
    ) -> None:
        self._write = write
        self._reachable = reachable
        self._transient = transient
        self._queue: asyncio.Queue[AuditRecord] = asyncio.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._retry_delays = tuple(retry_delays)
        self._backoff_first, self._backoff_max = outage_backoff
        self._close_grace = close_grace
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self._in_flight = 0
        self._overflow_logged_at = -_LOG_INTERVAL_SECONDS
        self._outage_logged_at = -_LOG_INTERVAL_SECONDS
        #: When the database was first found unreachable in the current outage (monotonic).
        self._outage_since: float | None = None
        self._outage_pause = self._backoff_first
        #: Records refused because the queue was full or the writer closed.
        self.overflow = 0
        #: Records accepted but never written: refused by the database after every retry, or
        #: still waiting for an unreachable database at shutdown (each case is logged).
        self.failed = 0
        #: Records written.
        self.written = 0
        #: Records taken since start, and of those how many are settled (written or given up
        #: on, in the order taken): a record numbered n is settled once ``settled >= n``.
        self.accepted = 0
        self.settled = 0
        self._waiters: list[tuple[int, asyncio.Future[bool]]] = []

    @property
    def pending(self) -> int:
        """Records accepted and not yet written (queued, or in the batch being written)."""
        return self._queue.qsize() + self._in_flight

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def waiting_for_database(self) -> bool:
        """True while an outage holds the records back."""
        return self._outage_since is not None

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
        if now - self._overflow_logged_at >= _LOG_INTERVAL_SECONDS:
            self._overflow_logged_at = now
            logger.warning(
                "audit record dropped (%s): hook_instance=%s, %d dropped so far",
                "queue full" if self._accepting else "writer closed",
                clip(record.hook_instance, 80),
                self.overflow,
                extra={"audit_overflow": self.overflow},
            )
        return False

    async def wait_settled(self, number: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s until the record numbered ``number`` is written or given up
        on; False if the time ran out first."""
        if self.settled >= number:
            return True
        # A future and a timer, not ``wait_for(shield(...))``: every answered call waits here,
        # and those two build a task, a second future and callbacks on each.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        entry = (number, waiter)
        self._waiters.append(entry)
        timer = loop.call_later(timeout, _resolve, waiter, False)
        try:
            return await waiter
        finally:
            timer.cancel()
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _settle(self, count: int) -> None:
        self.settled += count
        for number, waiter in self._waiters:
            if number <= self.settled:
                _resolve(waiter, True)

    async def flush(self) -> None:
        """Wait until every record accepted so far has been written (or given up on)."""
        if self.running:
            await self._queue.join()

    async def close(self) -> None:
        """Stop accepting, write everything already accepted, then stop the task.

        While the database answers this waits for the last record. While it cannot be reached it
        waits ``close_grace`` seconds for it to come back, then gives up on what is left (counted
        in ``failed`` and logged), so that a shutdown during an outage still ends.
        """
        self._accepting = False
        if self._task is None:
            return
        drained = asyncio.create_task(self._queue.join())
        give_up_at: float | None = None
        while not drained.done() and not self._task.done():
            await asyncio.wait({drained, self._task}, timeout=0.1)
            if self._outage_since is None:
                give_up_at = None
                continue
            now = time.monotonic()
            give_up_at = give_up_at or now + self._close_grace
            if now >= give_up_at:
                break
        if not drained.done():
            drained.cancel()
            unwritten = self.pending
            self.failed += unwritten
            logger.error(
                "audit writer stopped with %d records unwritten (%s)",
                unwritten,
                "database unreachable" if self.waiting_for_database else "writer stopped",
                extra={"audit_unwritten": unwritten},
            )
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
            self._in_flight = len(batch)
            try:
                await self._write_batch(batch)
            finally:
                self._in_flight = 0
                self._settle(len(batch))
                for _ in batch:
                    self._queue.task_done()

    async def _write_batch(self, batch: list[AuditRecord]) -> None:
        refusals = 0
        while True:
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if await self._wait_out_outage(exc, len(batch)):
                    continue
                if refusals >= len(self._retry_delays):
                    break
                logger.warning(
                    "audit batch of %d refused by the database (%s); retrying",
                    len(batch),
                    type(exc).__name__,
                    extra={"error_class": type(exc).__name__},
                )
                await asyncio.sleep(self._retry_delays[refusals])
                refusals += 1
            else:
                self._database_back()
                self.written += len(batch)
                return
        # One bad record must not take the rest of its batch with it.
        for record in batch:
            await self._write_one(record)
            self._in_flight -= 1

    async def _write_one(self, record: AuditRecord) -> None:
        while True:
            try:
                await self._write([record])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if await self._wait_out_outage(exc, 1):
                    continue
                self.failed += 1
                logger.error(
                    "audit record lost: refused by the database (%s); hook_instance=%s service=%s",
                    type(exc).__name__,
                    clip(record.hook_instance, 80),
                    clip(record.service_id, 80),
                    extra={"error_class": type(exc).__name__, "audit_failed": self.failed},
                )
                return
            else:
                self._database_back()
                self.written += 1
                return

    async def _wait_out_outage(self, error: Exception, records: int) -> bool:
        """After a failed write: False when the database answers and the error does not say it is
        unavailable (the write itself was refused); otherwise pause (longer each time, up to the
        cap) and return True to try again."""
        if not self._transient(error):
            try:
                answers = await self._reachable()
            except Exception:
                answers = False
            if answers:
                return False
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
            self._outage_pause = self._backoff_first
        if now - self._outage_logged_at >= _LOG_INTERVAL_SECONDS:
            self._outage_logged_at = now
            logger.warning(
                "audit writer waiting for the database (%s): %d records held, retrying",
                type(error).__name__,
                records + self._queue.qsize(),
                extra={"error_class": type(error).__name__},
            )
        await asyncio.sleep(self._outage_pause)
        self._outage_pause = min(self._backoff_max, self._outage_pause * 2)
        return True

    def _database_back(self) -> None:
        if self._outage_since is not None:
            logger.warning(
                "audit writer: the database answers again after %.1f s",
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None
            self._outage_logged_at = -_LOG_INTERVAL_SECONDS
