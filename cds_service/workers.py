"""``cds-service serve --workers N``: N processes, each with its own event loop, on one socket.

One Python process runs one event loop on one core. To use every core, the process the operator
started (the supervisor) binds the port, imports the service once and forks the workers; each
builds its own app (database pool, HTTP clients, note reader) and serves the shared listening
socket with its own uvicorn. The kernel hands each new connection to one of them. They share
what lives outside the process: the database, and Redis when it is configured.

- **Start.** Worker 1 starts alone: on a new SQLite database it creates the schema, and no two
  processes migrate at once. The others start once it is ready; ``/readyz`` answers as soon as
  it is. A worker that fails to start during this first start stops the service (exit 3, as one
  process does); later, a replacement that fails is retried with a growing pause.
- **Crash.** A worker that dies while serving (killed, out of memory) is replaced; its
  connections are lost, the others' are not.
- **Stop.** SIGTERM or SIGINT: the supervisor closes its copy of the socket and passes SIGTERM
  to every worker; each stops accepting, finishes the calls in flight and writes its audit
  queue, as one process does. Workers still running after ``stop_timeout`` are killed.

What must be shared between workers must be outside them: see ``plan_workers`` for the JWT
replay cache, and deploy/README.md for rate limits and connection limits.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import math
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket

logger = logging.getLogger("radix.workers")

#: A signal disposition, as `signal.signal` takes and returns it.
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

#: What a worker runs: given its index (0-based) and a function to call with a one-line
#: description once it serves, it returns its exit status.
RunWorker = Callable[[int, Callable[[str], None]], int]

#: Exit status of a service that could not start (uvicorn's).
STARTUP_FAILURE = 3
_MAX_RESTART_PAUSE = 30.0
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_READY_MESSAGE_BYTES = 512


class WorkersRefused(ValueError):
    """The number of workers asked for cannot run safely with this configuration."""


def plan_workers(
    requested: int, *, sqlite: bool, auth_required: bool, redis: bool, cores: int
) -> tuple[int, str | None]:
    """How many workers to run, and why when it is not what was asked.

    ``requested`` 0 means the default: one per core on PostgreSQL; one on SQLite, whose writes
    are serialised on one file whatever the number of processes (more can be asked for: WAL
    and a busy timeout make that safe on a local disk).

    With authentication on, each token id must be refused everywhere once used: an in-memory
    replay cache lives in one process, so a token spent on one worker could be replayed on
    another. Several workers then need Redis: asked for explicitly without it, the start is
    refused (fail closed); by default, one worker is run and the reason returned.
    """
    isolated_replay_cache = auth_required and not redis
    if requested == 0:
        if sqlite:
            return 1, None
        if isolated_replay_cache and cores > 1:
            return 1, (
                f"1 worker, not {cores} (one per core): with authentication on, several workers "
                "share the JWT replay cache only through Redis; set RADIX_REDIS_URL"
            )
        return max(1, cores), None
    if requested > 1 and isolated_replay_cache:
        raise WorkersRefused(
            f"{requested} workers with authentication on need RADIX_REDIS_URL: without it each "
            "worker keeps its own JWT replay cache, and a token used on one could be replayed "
            "on another"
        )
    return requested, None


def available_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: its CPU affinity, bounded by a cgroup CPU quota (the CPU
    limit of a container, which ``os.cpu_count`` does not see), rounded up."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def cgroup_cpu_quota(root: Path, self_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs allowed by the cgroup this process is in (v2 ``cpu.max``, or v1 CFS quota); None
    when unlimited or unknown."""
    for folder in _cgroup_folders(root, self_cgroup):
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
            if quota != "max":
                return int(quota) / int(period)
            return None
        except (OSError, ValueError):
            pass
        try:
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    return None


def _cgroup_folders(root: Path, self_cgroup: Path) -> list[Path]:
    """Where this process's CPU controller files may be: its own cgroup's folder (v2 ``0::``,
    v1 ``cpu``), then the root (a container sees its own cgroup as the root)."""
    folders = []
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        relative = path.strip().lstrip("/")
        if controllers == "":
            folders.append(root / relative)
        elif "cpu" in controllers.split(","):
            folders.append(root / controllers / relative)
            folders.append(root / "cpu" / relative)
    folders += [root, root / "cpu"]
    return list(dict.fromkeys(folders))


@dataclass
class _Worker:
    index: int
    pid: int
    ready_fd: int
    ready: bool = False


class Supervisor:
    """Forks ``count`` workers running ``run_worker``, replaces dead ones, stops them all."""

    def __init__(
        self,
        count: int,
        run_worker: RunWorker,
        sock: socket.socket,
        *,
        worker_exited: Callable[[int], None] | None = None,
        ready: Callable[[str], None] | None = None,
        stop_timeout: float = 40.0,
    ) -> None:
        self._count = count
        self._run_worker = run_worker
        self._sock = sock
        self._worker_exited = worker_exited
        self._ready = ready
        self._stop_timeout = stop_timeout
        self._workers: dict[int, _Worker] = {}
        self._signals: list[int] = []
        self._announced = False
        self._failures = 0
        #: Worker indexes waiting to be started, and when.
        self._pending: dict[int, float] = {}
        self._wake_r, self._wake_w = -1, -1

    def run(self) -> int:
        """Serve until a stop signal (0) or a failed first start (3)."""
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        previous = self._install_signals()
        try:
            # What start-up imported is shared by the workers, copy-on-write; frozen, the cyclic
            # GC does not touch it (which would copy every page it sits on into each worker).
            gc.freeze()
            self._pending[0] = time.monotonic()  # the first alone; the others once it is up
            return self._loop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(-1)
            os.close(self._wake_r)
            os.close(self._wake_w)

    # --- the loop ------------------------------------------------------------------------------

    def _loop(self) -> int:
        while True:
            if self._signals:
                return self._stop()
            self._start_due()
            waiting = [w.ready_fd for w in self._workers.values() if not w.ready]
            readable, _, _ = _select([self._wake_r, *waiting], self._next_timeout())
            if self._wake_r in readable:
                _drain(self._wake_r)
            for worker in list(self._workers.values()):
                if worker.ready_fd in readable and not worker.ready:
                    self._read_ready(worker)
            failed = self._reap()
            if failed is not None:
                return failed

    def _next_timeout(self) -> float:
        if not self._pending:
            return 5.0
        return max(0.0, min(self._pending.values()) - time.monotonic())

    def _start_due(self) -> None:
        now = time.monotonic()
        for index, due in list(self._pending.items()):
            if due <= now:
                del self._pending[index]
                self._spawn(index)

    def _read_ready(self, worker: _Worker) -> None:
        try:
            message = os.read(worker.ready_fd, _READY_MESSAGE_BYTES).decode(errors="replace")
        except BlockingIOError:
            return
        if not message:
            # Closed without a word: it is exiting before it was ready (``_reap`` sees it).
            _close(worker.ready_fd)
            worker.ready_fd = -1
            return
        worker.ready = True
        self._failures = 0
        _close(worker.ready_fd)
        worker.ready_fd = -1
        logger.info(
            "worker %d of %d ready (pid %d)",
            worker.index + 1,
            self._count,
            worker.pid,
            extra={"worker": worker.index + 1, "worker_pid": worker.pid},
        )
        if worker.index == 0 and not self._announced:
            self._announced = True
            if self._ready is not None:
                self._ready(message)
            for index in range(1, self._count):
                self._pending[index] = time.monotonic()

    def _reap(self) -> int | None:
        """Collect exited workers; the exit status to stop with, if the first start failed."""
        while self._workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == 0:
                return None
            worker = self._workers.pop(pid, None)
            if worker is None:
                continue
            _close(worker.ready_fd)
            if self._worker_exited is not None:
                self._worker_exited(pid)
            code = os.waitstatus_to_exitcode(status)
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            extra = {"worker": worker.index + 1, "worker_pid": pid, "exit_code": code}
            if not worker.ready and not self._announced:
                logger.error(
                    "worker %d (pid %d) failed to start: it %s",
                    worker.index + 1,
                    pid,
                    how,
                    extra=extra,
                )
                self._stop()
                return code if code > 0 else STARTUP_FAILURE
            pause = 0.0
            if not worker.ready:
                self._failures += 1
                pause = min(_MAX_RESTART_PAUSE, 2.0**self._failures)
            logger.error(
                "worker %d (pid %d) %s %s; starting another%s",
                worker.index + 1,
                pid,
                how,
                "while serving" if worker.ready else "before it was ready",
                f" in {pause:.0f} s" if pause else "",
                extra=extra,
            )
            self._pending[worker.index] = time.monotonic() + pause
        return None

    # --- starting and stopping -----------------------------------------------------------------

    def _spawn(self, index: int) -> None:
        ready_r, ready_w = os.pipe()
        supervisor = os.getpid()
        # Held back across the fork: a stop signal reaching the new worker before it has its own
        # handling would otherwise run the supervisor's handler there and be lost.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
        except OSError as exc:  # out of processes or memory: try again later
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            _close(ready_r)
            _close(ready_w)
            self._failures += 1
            pause = min(_MAX_RESTART_PAUSE, 2.0**self._failures)
            logger.error(
                "worker %d not started (%s); trying again in %.0f s", index + 1, exc.strerror, pause
            )
            self._pending[index] = time.monotonic() + pause
            return
        if pid == 0:  # the worker: never returns into the supervisor's code
            code = 1
            try:
                os.close(ready_r)
                self._forget_supervisor(supervisor)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
                code = self._run_worker(index, _notifier(ready_w))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                logger.exception("worker %d failed", index + 1)
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        os.close(ready_w)
        os.set_blocking(ready_r, False)
        self._workers[pid] = _Worker(index, pid, ready_r)

    def _forget_supervisor(self, supervisor: int) -> None:
        """In a new worker: the supervisor's signal handling and pipes are not its own; and if
        the supervisor dies (SIGKILL, out of memory) the worker is told to stop (SIGTERM) rather
        than serve on unsupervised."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        _stop_with_parent(supervisor)
        for fd in (self._wake_r, self._wake_w, *(w.ready_fd for w in self._workers.values())):
            _close(fd)
        self._workers.clear()

    def _stop(self) -> int:
        """SIGTERM to every worker, then wait for them to drain; SIGKILL after the timeout."""
        with contextlib.suppress(OSError):
            self._sock.close()  # the workers' copies stay open until each has drained
        self._pending.clear()
        forwarded = len(self._signals)
        if self._workers:
            logger.info("stopping %d workers", len(self._workers))
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        while self._workers and time.monotonic() < deadline:
            _select([self._wake_r], min(0.5, max(0.0, deadline - time.monotonic())))
            _drain(self._wake_r)
            # A second Ctrl-C asks the workers to stop at once, as it asks uvicorn.
            for signum in self._signals[forwarded:]:
                if signum == signal.SIGINT:
                    self._signal_all(signal.SIGINT)
            forwarded = len(self._signals)
            self._collect()
        if self._workers:
            logger.error(
                "%d workers still running after %.0f s: killed",
                len(self._workers),
                self._stop_timeout,
            )
            self._signal_all(signal.SIGKILL)
            while self._workers:
                self._collect(block=True)
        return 0

    def _collect(self, block: bool = False) -> None:
        while self._workers:
            try:
                pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                self._workers.clear()
                return
            if pid == 0:
                return
            worker = self._workers.pop(pid, None)
            if worker is not None:
                _close(worker.ready_fd)
                if self._worker_exited is not None:
                    self._worker_exited(pid)
            if block:
                return

    def _signal_all(self, signum: int) -> None:
        for pid in self._workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _install_signals(self) -> dict[int, _Handler]:
        def stop(signum: int, _frame: object) -> None:
            self._signals.append(signum)

        previous: dict[int, _Handler] = {s: signal.signal(s, stop) for s in _STOP_SIGNALS}
        # A worker's exit wakes the loop at once (the handler does nothing; the wakeup fd does).
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        return previous


def _stop_with_parent(parent: int) -> None:
    """Linux: SIGTERM this process when its parent dies (``PR_SET_PDEATHSIG``)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def _notifier(fd: int) -> Callable[[str], None]:
    def notify(message: str) -> None:
        # One write under PIPE_BUF bytes is atomic: the supervisor reads it whole.
        os.write(fd, (message or "ready").encode()[:_READY_MESSAGE_BYTES])
        _close(fd)

    return notify


def _select(fds: list[int], timeout: float) -> tuple[list[int], list[int], list[int]]:
    try:
        return select.select([fd for fd in fds if fd >= 0], [], [], timeout)
    except InterruptedError:
        return [], [], []


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError, OSError):
        while os.read(fd, 4096):
            pass


def _close(fd: int) -> None:
    if fd < 0:
        return
    try:
        os.close(fd)
    except OSError as exc:
        if exc.errno != errno.EBADF:
            raise
