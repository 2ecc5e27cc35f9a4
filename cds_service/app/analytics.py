"""``GET /analytics/summary?from=&to=``: governance analytics, for holders of the admin token.

``GET /analytics/refusals``: this process's counters of refused requests and the latest few
(``cds_service.app.refusals``), for the same token.
"""

from __future__ import annotations

import hmac
from datetime import UTC, date, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cds_service.app.error_handlers import error_response
from cds_service.app.json_response import JsonResponse
from cds_service.app.rate_limiter import RateLimiter, peer_key
from cds_service.errors import (
    DatabaseUnavailable,
    InvalidRequest,
    RateLimited,
    ServiceError,
    Unauthenticated,
)
from cds_service.settings import Settings
from cds_service.store import Store, StoreUnavailable

#: Summaries per minute for the admin token, and at once. Each one aggregates the whole audit
#: trail in the database; a dashboard refreshing every few seconds stays well inside this.
ANALYTICS_PER_MINUTE = 30
ANALYTICS_BURST = 10


def parse_bound(value: str, *, end: bool) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC instant; a bare date is a whole UTC day.

    ``from=2026-03-01`` starts at that midnight; ``to=2026-03-31`` ends at the next one, so the
    31st is included. A date-time without offset is taken as UTC.
    """
    text = value.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return midnight + timedelta(days=1) if end else midnight
    parsed = datetime.fromisoformat(text.upper())
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _authorised(request: Request, token: str) -> bool:
    if not token:
        return False
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Constant time, so the token cannot be guessed a byte at a time from response timings.
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


def _counted(request: Request, error: ServiceError) -> Response:
    """The answer to ``error``, counted among this process's refusals."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None:
        runtime.refusals.record_request(request, error.status, error.kind)
    return error_response(error)


def _bad_request(request: Request, message: str) -> Response:
    return _counted(request, InvalidRequest(message))


def _unavailable() -> Response:
    return error_response(
        DatabaseUnavailable(
            f"The database is unavailable; retry after {StoreUnavailable.retry_after} s.",
            StoreUnavailable.retry_after,
        )
    )


def _unauthorised(request: Request) -> Response:
    # The same words for a missing, malformed or wrong token: nothing to learn by probing.
    return _counted(request, Unauthenticated("authentication required"))


def analytics_routes(
    store: Store, settings: Settings, peer_gate: RateLimiter | None = None
) -> list[Route]:
    """The analytics routes, bound to ``store`` and protected by ``settings.admin_token``.

    Every refusal is an OperationOutcome; a 401 says only that authentication is required, a
    503 (with ``Retry-After``) that the database cannot be read now. A wrong token spends the
    caller's refusals (``peer_gate``, shared with the CDS routes), so guessing the token is
    throttled by address; right ones share one bucket.
    """
    token = settings.admin_token.get_secret_value()
    limiter = RateLimiter(ANALYTICS_PER_MINUTE, ANALYTICS_BURST)

    def admit(request: Request) -> Response | None:
        """None when the admin may go on; else the refusal to answer."""
        peer = peer_key(request)
        try:
            if peer_gate is not None:
                peer_gate.check(peer)
            if not _authorised(request, token):
                if peer_gate is not None:
                    peer_gate.spend(peer)
                return _unauthorised(request)
            limiter.acquire("admin")
        except RateLimited as refused:
            return error_response(refused)
        return None

    async def summary(request: Request) -> Response:
        refusal = admit(request)
        if refusal is not None:
            return refusal
        bounds: dict[str, datetime | None] = {"from": None, "to": None}
        for name in bounds:
            raw = request.query_params.get(name)
            if raw is None or raw == "":
                continue
            try:
                bounds[name] = parse_bound(raw, end=name == "to")
            except (ValueError, OverflowError):  # 9999-12-31 has no next midnight
                return _bad_request(
                    request,
                    f"'{name}' must be an ISO 8601 date (2026-03-01) or date-time "
                    "(2026-03-01T08:00:00Z).",
                )
        start, end = bounds["from"], bounds["to"]
        if start is not None and end is not None and start >= end:
            return _bad_request(request, "'from' must be earlier than 'to'.")
        try:
            return JsonResponse(await store.summary(start, end))
        except StoreUnavailable:
            return _unavailable()

    async def refusals(request: Request) -> Response:
        refusal = admit(request)
        if refusal is not None:
            return refusal
        return JsonResponse(request.app.state.runtime.refusals.snapshot())

    return [
        Route("/analytics/summary", summary, methods=["GET"]),
        Route("/analytics/refusals", refusals, methods=["GET"]),
    ]
