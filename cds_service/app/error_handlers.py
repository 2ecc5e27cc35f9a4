"""Every non-2xx answer is a FHIR OperationOutcome; no stack trace ever reaches a caller.

Each ``ServiceError`` carries its status, issue code, kind and headers (``cds_service.errors``):
the handler answers them all alike, and describes Starlette's own 404 and 405 with the same
types.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cds_service.app.json_response import FhirJsonResponse
from cds_service.errors import (
    InternalError,
    MethodNotAllowed,
    ServiceError,
    UnknownPath,
    operation_outcome,
)
from cds_service.log_format import clip

logger = logging.getLogger("radix.app")

#: Starlette's refusals that Radix describes in its own words.
_STARLETTE_ERRORS: dict[int, Callable[[Request], ServiceError]] = {
    404: lambda request: UnknownPath(
        f"Nothing is served at {request.url.path[:100]}; see GET /cds-services."
    ),
    405: lambda request: MethodNotAllowed(
        f"{request.method} is not allowed on {request.url.path[:100]}."
    ),
}
#: The issue code of any other Starlette HTTPException (also its refusal kind).
_HTTP_CODES = {401: "login", 403: "forbidden"}


def error_response(error: ServiceError, headers: Mapping[str, str] | None = None) -> Response:
    """The answer to ``error``: its OperationOutcome, status and headers (and ``headers``)."""
    return FhirJsonResponse(
        error.operation_outcome(),
        status_code=error.status,
        headers={**(headers or {}), **error.headers},
    )


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
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    describe = _STARLETTE_ERRORS.get(exc.status_code)
    if describe is not None:
        error = describe(request)
        _count_refusal(request, error.status, error.kind)
        return error_response(error, exc.headers)
    code = _HTTP_CODES.get(exc.status_code, "processing")
    _count_refusal(request, exc.status_code, code)
    return FhirJsonResponse(
        operation_outcome(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
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
    return error_response(
        InternalError("Radix could not process this request; it has been logged.")
    )
