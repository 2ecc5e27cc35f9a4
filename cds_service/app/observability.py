"""What the app records for operators: metrics of every request and call, and trace context.

- ``TraceContextMiddleware`` reads a W3C ``traceparent`` header; its trace id is written in every
  log line of the request (``trace_id``) and carried to the FHIR requests the call makes.
- ``MetricsMiddleware`` counts and times every answer by route template; a 429 is a rate-limit
  refusal (nothing else answers 429).
- ``observe_hook_call`` counts a hook call from its audit record: status, error kind, latency,
  cards by indicator and disposition, order ratings.
- ``MeteredTransport`` wraps the FHIR client's transport: requests, latency, failures by reason.
- ``StoreSampler`` turns the store's own counts (audit queue, overflow, lost records) into
  metrics once a second, and counts the database driver's errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import event
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service import metrics
from cds_service.errors import UntrustedFhirServer
from cds_service.log_format import TRACE_ID

if TYPE_CHECKING:
    from cds_service.store import AuditRecord, Store

logger = logging.getLogger("radix.app")

# --- W3C Trace Context -------------------------------------------------------------------------

# version-traceid-parentid-flags, lower-case hex (W3C Trace Context, level 1, section 3.2).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


@dataclass(frozen=True)
class TraceParent:
    trace_id: str
    flags: str

    @classmethod
    def parse(cls, value: str) -> TraceParent | None:
        """The header's trace, or None when it is not one a receiver may use."""
        match = _TRACEPARENT.fullmatch(value.strip())
        if match is None:
            return None
        version, trace_id, parent_id, flags, rest = match.groups()
        # ff is forbidden; version 00 has exactly four fields; all-zero ids are invalid.
        if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"}:
            return None
        if set(parent_id) == {"0"}:
            return None
        return cls(trace_id, flags)

    def child(self) -> str:
        """A ``traceparent`` for a request this one makes: same trace, a new parent id."""
        return f"00-{self.trace_id}-{secrets.token_hex(8)}-{self.flags}"


#: The sampled/flags byte of the current request's trace, passed on with its trace id.
_TRACE_FLAGS: ContextVar[str] = ContextVar("radix_trace_flags", default="00")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


class TraceContextMiddleware:
    """Outermost: the trace id is set before the request id's access line and kept until after."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = _header(scope, b"traceparent") if scope["type"] == "http" else None
        trace = TraceParent.parse(header) if header else None
        if trace is None:
            await self.app(scope, receive, send)
            return
        token = TRACE_ID.set(trace.trace_id)
        flags_token = _TRACE_FLAGS.set(trace.flags)
        try:
            await self.app(scope, receive, send)
        finally:
            _TRACE_FLAGS.reset(flags_token)
            TRACE_ID.reset(token)


def current_trace() -> TraceParent | None:
    trace_id = TRACE_ID.get()
    return TraceParent(trace_id, _TRACE_FLAGS.get()) if trace_id else None


# --- HTTP metrics --------------------------------------------------------------------------------


class MetricsMiddleware:
    """Counts and times every HTTP answer by route template (bounded label values)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._paths: dict[Any, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = self._route(scope)
            metrics.HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
            metrics.HTTP_DURATION.labels(route).observe(time.perf_counter() - started)
            if status == 429:
                metrics.RATE_LIMITED.labels(route).inc()

    def _route(self, scope: Scope) -> str:
        """The matched route's path template; ``other`` for anything no route matched."""
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return "other"
        path = self._paths.get(endpoint)
        if path is None:
            app = scope.get("app")
            for route in getattr(app, "routes", ()):
                if getattr(route, "endpoint", None) is endpoint:
                    path = route.path
                    break
            path = self._paths[endpoint] = path or "other"
        return path


# --- Hook calls ----------------------------------------------------------------------------------


def observe_hook_call(record: AuditRecord) -> None:
    """Count one hook call from what its audit record holds (the same numbers as the trail)."""
    service = record.service_id if record.hook else "unknown"  # no label per unknown id
    metrics.HOOK_CALLS.labels(service, str(record.status_code), record.error_kind or "none").inc()
    metrics.HOOK_CALL_DURATION.labels(service).observe(record.latency_ms / 1000)
    disposition = str((record.assessment or {}).get("disposition") or "none")
    for card in record.cards:
        metrics.CARDS.labels(service, str(card.get("indicator") or "none"), disposition).inc()
    for rating in record.order_ratings:
        metrics.ORDER_RATINGS.labels(service, str(rating.get("rating") or "none")).inc()


def record_build_info(knowledge_version: str) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("radix-cds")
    except PackageNotFoundError:
        package = "unknown"
    metrics.BUILD_INFO.labels(package, knowledge_version).set(1)


# --- FHIR requests -------------------------------------------------------------------------------


class MeteredTransport(httpx.AsyncBaseTransport):
    """Times and classifies each FHIR request; passes the trace on to the FHIR server."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        trace = current_trace()
        if trace is not None:
            request.headers["traceparent"] = trace.child()
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException as exc:
            _fhir_outcome(_failure_reason(exc), started)
            raise
        status = response.status_code
        outcome = _status_outcome(status)
        return httpx.Response(
            status_code=status,
            headers=response.headers,
            stream=_TimedStream(response, outcome, started),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _status_outcome(status: int) -> str:
    if status < 300:
        return "ok"
    return "redirect" if status < 400 else f"http-{status // 100}xx"


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, UntrustedFhirServer):
        return "refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, asyncio.CancelledError):
        return "deadline"  # the call's one deadline for all its FHIR queries ran out
    if isinstance(exc, httpx.TransportError):
        return "transport"
    return "error"


def _fhir_outcome(outcome: str, started: float) -> None:
    metrics.FHIR_REQUESTS.labels(outcome).inc()
    if outcome != "ok":
        metrics.FHIR_FAILURES.labels(outcome).inc()
    metrics.FHIR_DURATION.observe(time.perf_counter() - started)


@dataclass
class _TimedStream(httpx.AsyncByteStream):
    """The response body; the request is counted once its body is read or abandoned."""

    response: httpx.Response
    outcome: str
    started: float
    counted: bool = field(default=False)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self.response.aiter_raw():
                yield part
        except BaseException as exc:
            self._count(_failure_reason(exc))
            raise

    async def aclose(self) -> None:
        try:
            await self.response.aclose()
        finally:
            self._count(self.outcome)

    def _count(self, outcome: str) -> None:
        if not self.counted:
            self.counted = True
            _fhir_outcome(outcome, self.started)


# --- Store ----------------------------------------------------------------------------------------


class StoreSampler:
    """Copies the store's audit counts into metrics every ``interval`` seconds; counts driver
    errors through SQLAlchemy's ``handle_error`` event."""

    def __init__(self, store: Store, interval: float = 1.0) -> None:
        self._store = store
        self._interval = interval
        self._overflow = 0
        self._lost = 0
        self._task: asyncio.Task[None] | None = None
        self._engine: Any = None

    def start(self) -> None:
        self._engine = self._store.engine.sync_engine
        event.listen(self._engine, "handle_error", _count_database_error)
        self._task = asyncio.create_task(self._run(), name="radix-metrics-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._engine is not None:
            event.remove(self._engine, "handle_error", _count_database_error)
            self._engine = None

    def sample(self) -> None:
        metrics.AUDIT_QUEUE_DEPTH.set(self._store.audit_pending)
        overflow, lost = self._store.audit_overflow, self._store.audit_failed
        # The store's counts only grow; a counter takes what grew since the last sample.
        if overflow > self._overflow:
            metrics.AUDIT_OVERFLOW.inc(overflow - self._overflow)
        if lost > self._lost:
            metrics.AUDIT_LOST.inc(lost - self._lost)
        self._overflow, self._lost = overflow, lost

    async def _run(self) -> None:
        while True:
            try:
                self.sample()
            except Exception:  # metrics must never take the service down
                logger.exception("metrics sampling failed")
            await asyncio.sleep(self._interval)


def _count_database_error(context: Any) -> None:
    error = context.original_exception
    metrics.DATABASE_ERRORS.labels(type(error).__name__).inc()
