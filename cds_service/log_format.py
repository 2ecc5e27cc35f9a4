"""Structured logs: one JSON object per line, stamped with the id of the request being served.

Nothing here adds patient data: records carry what the code logged (kinds, keys, reasons,
claims such as ``iss`` and ``jti``), never request bodies, tokens or FHIR URLs. Two guarantees
hold whatever a call site passes:

- **Bounded lines.** A value taken from a request goes through :func:`clip` (cut, control
  characters escaped); the formatter also cuts every message and field, so a hostile request
  cannot write a 65 KB line.
- **No exception messages.** A traceback is logged as its frames and exception classes only
  (:func:`redacted_traceback`): the message of a database error quotes the values it refused
  (a patient reference, an assessment, an override comment), and of other errors the data
  they choked on.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
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
#: Attributes of a record that are not its extra fields (``request_id`` is written apart).
_NOT_EXTRA = _STANDARD | {"request_id"}
# httpx logs every request URL at INFO (FHIR search URLs name the patient), SQLAlchemy logs
# SQL parameters at INFO (audit rows): neither belongs in a service log.
_QUIET = ("httpx", "httpcore", "hpack", "aiosqlite", "sqlalchemy", "asyncio")

#: Longest value taken from a request (path, header, claim, id) that a call site logs.
MAX_VALUE_CHARS = 200
#: Longest message, and longest field, the formatter writes, whatever it is given.
MAX_MESSAGE_CHARS = 2_000
MAX_FIELD_CHARS = 1_000
MAX_TRACEBACK_CHARS = 16_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clip(value: object, limit: int = MAX_VALUE_CHARS) -> str | None:
    """A value from a request, safe to log: control characters escaped (so it can forge no log
    line), then at most ``limit`` characters, followed by ``…(N chars)`` when it was longer."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    head = _CONTROL.sub(_escape, text[:limit])
    if len(text) > limit or len(head) > limit:
        return f"{head[:limit]}…({len(text)} chars)"
    return head


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…(+{len(text) - limit} chars)"


def redacted_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` (and its cause or context) without any exception message.

    Frames and exception classes say where a failure happened; the messages, which can quote
    patient data or SQL parameters, are left out.
    """
    text = "".join(_redacted(traceback.TracebackException.from_exception(exc)))
    return _cut(text, MAX_TRACEBACK_CHARS)


def _redacted(te: traceback.TracebackException, depth: int = 0) -> list[str]:
    lines: list[str] = []
    if depth < 5:
        if te.__cause__ is not None:
            lines += _redacted(te.__cause__, depth + 1)
            lines.append("\nThe above exception was the direct cause of the following one:\n\n")
        elif te.__context__ is not None and not te.__suppress_context__:
            lines += _redacted(te.__context__, depth + 1)
            lines.append("\nWhile handling the above exception, another one occurred:\n\n")
    lines.append("Traceback (most recent call last):\n")
    lines.extend(te.stack.format())
    lines.append(f"{_class_name(te)} (message withheld from the log)\n")
    return lines


def _class_name(te: traceback.TracebackException) -> str:
    exc_type = te.exc_type
    if exc_type is None:
        return "Exception"
    module = exc_type.__module__
    return exc_type.__qualname__ if module == "builtins" else f"{module}.{exc_type.__qualname__}"


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(value, MAX_FIELD_CHARS)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return _cut(str(value), MAX_FIELD_CHARS)


class JsonLogFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _cut(record.getMessage(), MAX_MESSAGE_CHARS),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        trace_id = TRACE_ID.get()
        if trace_id:
            entry["trace_id"] = trace_id
        for name, value in record.__dict__.items():
            if name not in _NOT_EXTRA and not name.startswith("_"):
                entry[name] = _bounded(value)
        if record.exc_info and record.exc_info[1] is not None:
            entry["exc_type"] = type(record.exc_info[1]).__name__
            entry["exc"] = redacted_traceback(record.exc_info[1])
        return orjson.dumps(entry, default=str).decode()


class TextLogFormatter(logging.Formatter):
    """The terminal format, with the same bounds and the same redacted tracebacks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _cut(record.message, MAX_MESSAGE_CHARS)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return redacted_traceback(ei[1]).rstrip("\n") if ei and ei[1] is not None else ""


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
            TextLogFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
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
