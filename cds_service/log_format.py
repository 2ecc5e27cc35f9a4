"""Structured logs: one JSON object per line, stamped with the id of the request being served.

Nothing here adds patient data: records carry what the code logged (kinds, keys, reasons,
claims such as ``iss`` and ``jti``), never request bodies, tokens or FHIR URLs.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

import orjson

#: The id of the request this task is serving; set by ``RequestIdMiddleware``.
REQUEST_ID: ContextVar[str | None] = ContextVar("radix_request_id", default=None)
#: The W3C trace id of the request's ``traceparent``, if it had one (``TraceContextMiddleware``).
TRACE_ID: ContextVar[str | None] = ContextVar("radix_trace_id", default=None)

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}
# httpx logs every request URL at INFO (FHIR search URLs name the patient), SQLAlchemy logs
# SQL parameters at INFO (audit rows): neither belongs in a service log.
_QUIET = ("httpx", "httpcore", "hpack", "aiosqlite", "sqlalchemy", "asyncio")


class JsonLogFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        trace_id = TRACE_ID.get()
        if trace_id:
            entry["trace_id"] = trace_id
        for name, value in vars(record).items():
            if name not in _STANDARD and name != "request_id" and not name.startswith("_"):
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _RequestIdFilter(logging.Filter):
    """Copies the current request id onto records, for the text format."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


def configure_logging(level: str, fmt: str = "json", stream: IO[str] | None = None) -> None:
    """Send every log record (uvicorn's too) to one handler on the root logger."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.addFilter(_RequestIdFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
