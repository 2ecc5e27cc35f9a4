"""Every non-2xx answer is a FHIR OperationOutcome; no stack trace ever reaches a caller."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cds_service.app.json_response import FhirJsonResponse
from cds_service.app.rate_limiter import RateLimited
from cds_service.errors import ServiceError, ServiceUnavailable, operation_outcome
from cds_service.log_format import clip

logger = logging.getLogger("radix.app")

_HTTP_CODES = {404: "not-found", 405: "not-supported", 401: "login", 403: "forbidden"}
#: The refusal kind of a Starlette HTTPException, for the refusal counters.
_HTTP_KINDS = {404: "unknown-path", 405: "method-not-allowed"}


def _count_refusal(request: Request, status: int, kind: str) -> None:
    # Every refusal is counted in memory (cds_service.app.refusals), whatever else it leaves.
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None and 400 <= status < 500:
        runtime.refusals.record_request(request, status, kind)


async def service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    logger.info(
        "request refused: %s %s -> %d (%s)",
        request.method,
        clip(request.url.path),
        exc.status,
        exc.kind,
    )
    _count_refusal(request, exc.status, exc.kind)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, ServiceUnavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    return FhirJsonResponse(exc.operation_outcome(), status_code=exc.status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "processing")
    _count_refusal(request, exc.status_code, _HTTP_KINDS.get(exc.status_code, code))
    message = {
        404: f"Nothing is served at {request.url.path[:100]}; see GET /cds-services.",
        405: f"{request.method} is not allowed on {request.url.path[:100]}.",
    }.get(exc.status_code, str(exc.detail))
    return FhirJsonResponse(
        operation_outcome(code, message), status_code=exc.status_code, headers=exc.headers
    )


async def unexpected_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the server log only; the caller learns nothing about internals.
    logger.error(
        "unhandled %s on %s %s",
        type(exc).__name__,
        request.method,
        clip(request.url.path),
        exc_info=exc,
    )
    return FhirJsonResponse(
        operation_outcome("exception", "Radix could not process this request; it has been logged."),
        status_code=500,
    )
