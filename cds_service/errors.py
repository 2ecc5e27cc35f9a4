"""Every way Radix refuses a request, as one tree of exception types.

A type carries everything the answer needs but the words: the HTTP ``status``, the FHIR
OperationOutcome issue ``code``, the ``kind`` and any ``headers``. The raise site gives only the
message, which the caller reads as the OperationOutcome's ``diagnostics``; the handler
(``cds_service.app.error_handlers``) answers every type the same way.

``kind`` is a public contract: the audit trail (``error_kind``), the refusal counters
(``GET /analytics/refusals``), the ``radix_hook_calls_total`` metric and the logs name it, and
dashboards and alerts select on it. So it is fixed by the type, never written at a raise site,
and patient-free. The same tree, as a table, is in docs/errors.md::

    ServiceError
    ├── InvalidRequest              400  invalid        invalid-request
    │   ├── EmptyBody                                   empty-body
    │   ├── MalformedJson                               malformed-json
    │   ├── NotAnObject                                 not-an-object
    │   ├── TooDeep                 400  structure      too-deep
    │   ├── WrongHook                                   wrong-hook
    │   ├── WrongPatient                                wrong-patient
    │   ├── InvalidFhirServer                           invalid-fhir-server
    │   ├── UntrustedFhirServer     400  security       untrusted-fhir-server
    │   ├── PrefetchShape                               prefetch-shape
    │   ├── OutcomeTimeOutOfRange                       outcome-time-out-of-range
    │   ├── PreviewBundle                               preview-bundle
    │   └── PreviewUnrecognised                         preview-unrecognised
    ├── Unauthenticated             401  login          unauthenticated          WWW-Authenticate
    ├── UnknownService              404  not-found      unknown-service
    ├── UnknownPath                 404  not-found      unknown-path
    ├── MethodNotAllowed            405  not-supported  method-not-allowed
    ├── BodyTimeout                 408  timeout        body-timeout
    ├── EssentialDataUnavailable    412  incomplete     essential-data-unavailable
    ├── BodyTooLarge                413  too-long       body-too-large
    ├── TooMany                     413  too-costly     too-many
    ├── UnsupportedMediaType        415  not-supported  unsupported-media-type
    ├── RateLimited                 429  throttled      rate-limited             Retry-After
    │   └── PeerThrottled                               peer-throttled           Retry-After
    ├── DatabaseUnavailable         503  transient      store-unavailable        Retry-After
    ├── Busy                        503  transient      busy                     Retry-After
    └── InternalError               500  exception      internal-error

A subtype inherits what it does not set. The ones that end by themselves take ``retry_after``
(whole seconds) and answer it as ``Retry-After``. This module imports nothing of Radix: every
stage raises these, so it stays at the bottom of the import graph.
"""

from __future__ import annotations

from typing import Any, ClassVar


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """A FHIR R4 OperationOutcome with one issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


class ServiceError(Exception):
    """A request Radix does not answer normally; only its subtypes are raised."""

    #: The HTTP status of the answer.
    status: ClassVar[int]
    #: The OperationOutcome issue code (FHIR R4 IssueType).
    code: ClassVar[str]
    #: The short, patient-free label of the audit trail, the counters, the metric and the logs.
    kind: ClassVar[str]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        #: What the caller is told (the OperationOutcome's diagnostics).
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """Headers the answer carries beyond its content type."""
        return {}

    def operation_outcome(self) -> dict[str, Any]:
        return operation_outcome(self.code, self.message)


class _RetryLater(ServiceError):
    """A refusal that ends by itself: it says when to try again (``Retry-After``)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        #: Whole seconds the caller is asked to wait.
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


# --- 400: what was sent cannot be used ---------------------------------------------------------


class InvalidRequest(ServiceError):
    """The request breaks CDS Hooks 2.0 or its hook's schema (and nothing more specific)."""

    status, code, kind = 400, "invalid", "invalid-request"


class EmptyBody(InvalidRequest):
    kind = "empty-body"


class MalformedJson(InvalidRequest):
    kind = "malformed-json"


class NotAnObject(InvalidRequest):
    """The body is JSON, but not an object."""

    kind = "not-an-object"


class TooDeep(InvalidRequest):
    """Arrays and objects nested deeper than any FHIR resource does."""

    code, kind = "structure", "too-deep"


class WrongHook(InvalidRequest):
    """The request names another hook than the service's, or none that Radix answers."""

    kind = "wrong-hook"


class WrongPatient(InvalidRequest):
    """The call carries another patient's data than ``context.patientId``'s."""

    kind = "wrong-patient"


class InvalidFhirServer(InvalidRequest):
    """``fhirServer`` is not an http(s) URL with a host and without credentials."""

    kind = "invalid-fhir-server"


class UntrustedFhirServer(InvalidRequest):
    """The ``fhirServer`` (or a link from it) points somewhere Radix must not fetch."""

    code, kind = "security", "untrusted-fhir-server"

    def __init__(self, reason: str) -> None:
        super().__init__(f"The fhirServer is not acceptable: {reason}.")
        self.reason = reason


class PrefetchShape(InvalidRequest):
    """A prefetch value is neither null, an OperationOutcome, nor what its template answers."""

    kind = "prefetch-shape"


class OutcomeTimeOutOfRange(InvalidRequest):
    """A feedback ``outcomeTimestamp`` too far from now."""

    kind = "outcome-time-out-of-range"


class PreviewBundle(InvalidRequest):
    """A Bundle pasted into the preview without exactly one identified Patient."""

    kind = "preview-bundle"


class PreviewUnrecognised(InvalidRequest):
    """What was pasted into the preview is neither a hook request nor a Bundle."""

    kind = "preview-unrecognised"


# --- 401 to 415: who is asking, for what, and how -------------------------------------------


class Unauthenticated(ServiceError):
    """No, or no acceptable, credentials; the answer never says which check failed."""

    status, code, kind = 401, "login", "unauthenticated"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class UnknownService(ServiceError):
    """No CDS service of the catalogue has that id."""

    status, code, kind = 404, "not-found", "unknown-service"


class UnknownPath(ServiceError):
    """Nothing is routed at the path (Starlette's 404)."""

    status, code, kind = 404, "not-found", "unknown-path"


class MethodNotAllowed(ServiceError):
    """The path is routed, not for this method (Starlette's 405, with its ``Allow``)."""

    status, code, kind = 405, "not-supported", "method-not-allowed"


class BodyTimeout(ServiceError):
    """The body trickled in for longer than allowed: it held a connection."""

    status, code, kind = 408, "timeout", "body-timeout"


class EssentialDataUnavailable(ServiceError):
    """Data the advice depends on came neither with the call nor from the FHIR server."""

    status, code, kind = 412, "incomplete", "essential-data-unavailable"


class BodyTooLarge(ServiceError):
    """The body is, or says it is, larger than the configured limit."""

    status, code, kind = 413, "too-long", "body-too-large"


class TooMany(ServiceError):
    """Too many members, prefetch resources or draft orders for the work they would cost."""

    status, code, kind = 413, "too-costly", "too-many"


class UnsupportedMediaType(ServiceError):
    """The body is not declared JSON: a form post or plain text is no CDS Hooks call."""

    status, code, kind = 415, "not-supported", "unsupported-media-type"


# --- 429 and 5xx: not now, or not at all -----------------------------------------------------


class RateLimited(_RetryLater):
    """A client called more often than allowed."""

    status, code, kind = 429, "throttled", "rate-limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many requests from this client; retry after {retry_after} s.", retry_after
        )


class PeerThrottled(RateLimited):
    """An address whose requests keep being refused, before any of them is looked at."""

    kind = "peer-throttled"


class DatabaseUnavailable(_RetryLater):
    """The database cannot be used now (down, unreachable, failing over)."""

    status, code, kind = 503, "transient", "store-unavailable"


class Busy(_RetryLater):
    """The process holds as many request bodies as it may at once (``BodyBudget``), and this
    call's turn did not come in time."""

    status, code, kind = 503, "transient", "busy"


class InternalError(ServiceError):
    """Anything unexpected; the caller learns nothing about internals."""

    status, code, kind = 500, "exception", "internal-error"
