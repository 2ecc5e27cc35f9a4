"""The one error type every stage raises for a request it cannot answer normally."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A failure with an HTTP status and a FHIR OperationOutcome issue code.

    ``message`` goes to the caller inside the OperationOutcome; ``kind`` is a short,
    patient-free label for logs and the audit trail.
    """

    def __init__(self, status: int, code: str, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.kind = kind

    def operation_outcome(self) -> dict[str, Any]:
        return operation_outcome(self.code, self.message)


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """A FHIR R4 OperationOutcome with one issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def bad_request(message: str, kind: str = "invalid-request") -> ServiceError:
    return ServiceError(400, "invalid", message, kind=kind)


class ServiceUnavailable(ServiceError):
    """Radix cannot do this now (its database is unreachable): a 503 with ``Retry-After``."""

    def __init__(self, message: str, *, kind: str, retry_after: int) -> None:
        super().__init__(503, "transient", message, kind=kind)
        self.retry_after = retry_after
