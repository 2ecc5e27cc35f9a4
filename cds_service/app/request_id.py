"""Every request gets an id: the caller's ``X-Request-ID`` if it is sane, else a new one.

The id is echoed in the response, stamped on every log record written while serving it, and
ends the request with one access-log line. An unhandled exception is answered here as a 500
OperationOutcome, so that answer carries the id too.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service.app import error_handlers
from cds_service.log_format import REQUEST_ID, clip

HEADER = "X-Request-ID"
# Letters, digits and a few separators: enough for UUIDs and trace ids, useless for log forging.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

access_logger = logging.getLogger("radix.access")


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's id when it is short and plain; otherwise a fresh UUID."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers", []))
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if response_started:
                raise
            response = await error_handlers.unexpected_error(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            path = clip(scope["path"])
            access_logger.info(
                "%s %s -> %d",
                clip(scope["method"], 16),
                path,
                status,
                extra={
                    "method": clip(scope["method"], 16),
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            REQUEST_ID.reset(token)
