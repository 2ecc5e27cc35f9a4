"""Connection-level limits for ``cds-service serve``: header size, header time, connection count.

uvicorn alone bounds none of what a hostile peer does before its request reaches the app:

- **Header size.** uvicorn's default parser (httptools) keeps every byte of an unfinished header:
  ten connections each sending an endless header took the process past 900 MiB and were never
  answered. h11 refuses a request head over ``h11_max_incomplete_event_size`` with a 400, so
  Radix serves HTTP/1.1 with h11 (``RADIX_MAX_HEADER_BYTES``).
- **Header time.** Neither parser times out a request head: uvicorn arms its keep-alive timer only
  after a response, and any byte cancels it, so a client sending one header byte every few
  seconds holds its connection for ever. Here a request head must be complete within
  ``RADIX_HEADER_TIMEOUT_SECONDS`` of its first byte (of the connection, for the first request);
  otherwise the answer is 408 and the connection is closed.
- **Connection count.** uvicorn accepts every connection. Here a connection beyond
  ``RADIX_MAX_CONNECTIONS`` is answered 503 at once and closed: its request is never parsed.

A reverse proxy in front still has to do what one process cannot (README, Security).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"content-length: 47\r\n"
    b"\r\n"
    b"Too many connections to Radix; retry shortly.\r\n"
)
_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: 38\r\n"
    b"\r\n"
    b"The request head was not sent in time\r\n"
)
#: How long a refused connection is kept to let the client read its 503 (a close with its
#: request still unread would reset the connection and lose the answer).
_LINGER_SECONDS = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int
    header_timeout: float


def limited_h11(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with ``limits``: a class for ``uvicorn.Config(http=...)``."""

    class LimitedH11Protocol(_LimitedH11Protocol):
        connection_limits = limits

    return LimitedH11Protocol


class _LimitedH11Protocol(H11Protocol):
    connection_limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    # --- connection count -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.connection_limits.max_connections:
            self._refuse(transport)
            return
        super().connection_made(transport)
        self._arm_head_timer()

    def _refuse(self, transport: asyncio.Transport) -> None:
        """Answer 503 without reading the request; keep the socket briefly so it is read."""
        self._refused = True
        self.transport = transport
        transport.write(_UNAVAILABLE)
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, transport.close)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # discarded: the answer is already sent
        super().data_received(data)
        self._track_head()

    def eof_received(self) -> None:
        if self._refused:
            self.transport.close()
            return
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._refused:
            return  # never counted, never parsed
        super().connection_lost(exc)

    # --- header time --------------------------------------------------------------------------

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined next request already partly received: its head is on the clock now.
        if not self.transport.is_closing() and self.conn.trailing_data[0]:
            self._track_head()

    def _track_head(self) -> None:
        """On the clock while a request head is unfinished; off once it has been parsed."""
        if self.conn.their_state is h11.IDLE:
            if self._head_timer is None and not self.transport.is_closing():
                self._arm_head_timer()
        else:
            self._cancel_head_timer()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(
            self.connection_limits.header_timeout, self._head_timed_out
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.our_state is h11.IDLE:  # nothing of an answer sent on this cycle yet
            self.transport.write(_TIMEOUT)
        self.transport.close()
