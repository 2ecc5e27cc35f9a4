"""The one failure of the store that callers answer differently from a bug."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

#: What the database and its driver raise when they cannot be used: SQLAlchemy's wrapped driver
#: errors, and the raw OSError (connection refused, timeout) a driver raises while connecting.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError)


class StoreUnavailable(Exception):
    """The database could not do what was asked now (down, unreachable, refusing): try later.

    Carries the name of the underlying error class only, never its text: a database error's
    message can quote the values it was given (a patient reference, an override comment).
    """

    #: Seconds an HTTP client is asked to wait (``Retry-After``): a restart or a failover.
    retry_after = 30

    def __init__(self, operation: str, error: BaseException) -> None:
        self.operation = operation
        self.error_class = type(error).__name__
        super().__init__(f"{operation}: database unavailable ({self.error_class})")


#: SQLSTATE classes of a database that cannot take writes now but will again: connection
#: exceptions (08), insufficient resources such as a full disk or too many connections (53),
#: operator intervention such as a shutdown in progress (57P), and a read-only transaction on a
#: standby during a failover (25006).
_TRANSIENT_SQLSTATES = ("08", "53", "57P", "25006")


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` says the database is unavailable for now, rather than refusing the data.

    A connection that failed or was lost, or a SQLSTATE of the classes above. Anything else may
    still be an outage; the audit writer then asks the database whether it answers.
    """
    if isinstance(error, OSError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    orig = getattr(error, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return isinstance(state, str) and state.startswith(_TRANSIENT_SQLSTATES)
