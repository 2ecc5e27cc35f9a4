"""Refused requests, counted in memory: what a flood of refusals costs is a counter, not a row.

The audit trail records the calls of clients Radix knows (see ``endpoints.hook_call``). A request
refused before that — no or a bad token (401), an unknown path or service (404), a wrong method
(405), too large or not JSON before the caller is known (413, 415), throttled (429) — leaves no
row, so that nobody can fill the database or crowd out the rows of answered calls. It is
counted here instead, with a bounded, truncated sample of the latest ones for the operator:
method, path (cut), status, kind, service and peer address; never a body, a header or a token.
Every other refusal (a 400 or 412 of an authenticated client, say) is counted too, so that the
counts are the whole picture of what this process refused.

Counts are per process and start at zero when it starts (``since``): with several workers or
replicas, add theirs. ``GET /analytics/refusals`` shows them to the holder of the admin token.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from cds_service.log_format import clip

#: Refusals kept in the sample.
SAMPLE_SIZE = 100
#: Longest path kept in the sample.
PATH_CHARS = 120
#: Distinct (status, kind, service) counters; beyond this, new kinds count under "other". Every
#: part comes from code or the catalogue, so this is a guard, not an expected limit.
MAX_COUNTERS = 500
OTHER = "other"


@dataclass(frozen=True)
class Refusal:
    """One refused request, as far as it may be kept."""

    at: str
    method: str
    path: str
    status: int
    kind: str
    service: str | None
    peer: str | None


class RefusalLog:
    """Counters of refused requests by status, kind and service, and the latest few of them."""

    def __init__(
        self,
        services: Iterable[str],
        *,
        sample_size: int = SAMPLE_SIZE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._services = frozenset(services)
        self._clock = clock
        self._counts: Counter[tuple[int, str, str | None]] = Counter()
        self._recent: deque[Refusal] = deque(maxlen=sample_size)
        self.since = clock()

    def service_of(self, service_id: object) -> str | None:
        """A service id from a path, if it is one of the catalogue's; anything else is None."""
        return service_id if isinstance(service_id, str) and service_id in self._services else None

    def record(
        self,
        *,
        method: str,
        path: str,
        status: int,
        kind: str,
        service_id: object = None,
        peer: str | None = None,
    ) -> None:
        """Count one refusal and keep it (truncated) in the sample."""
        service = self.service_of(service_id)
        key = (status, kind, service)
        if key not in self._counts and len(self._counts) >= MAX_COUNTERS:
            key = (status, OTHER, service)
        self._counts[key] += 1
        self._recent.append(
            Refusal(
                at=self._clock().isoformat(timespec="milliseconds"),
                method=clip(method, 16) or "",
                path=clip(path, PATH_CHARS) or "",
                status=status,
                kind=kind,
                service=service,
                peer=clip(peer, 64),
            )
        )

    def record_request(self, request: Request, status: int, kind: str) -> None:
        """Count a refused Starlette request (the error handlers' way in)."""
        self.record(
            method=request.method,
            path=request.url.path,
            status=status,
            kind=kind,
            service_id=request.path_params.get("service_id"),
            peer=request.client.host if request.client else None,
        )

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def count(self, status: int, kind: str | None = None) -> int:
        """Refusals with ``status`` (and ``kind``, if given), every service together."""
        return sum(n for (s, k, _), n in self._counts.items() if s == status and kind in (None, k))

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /analytics/refusals`` answers: counts, then the sample, newest first."""
        counts = sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
        return {
            "since": self.since.isoformat(timespec="seconds"),
            "process": os.getpid(),
            "total": self.total,
            "counts": [
                {"status": status, "kind": kind, "service": service, "count": n}
                for (status, kind, service), n in counts
            ],
            "recent": [asdict(r) for r in reversed(self._recent)],
        }
