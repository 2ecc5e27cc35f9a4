"""A hostile HTTP server on 127.0.0.1 for outbound-safety tests, and a TCP trap.

``HostileServer`` answers each path with a canned reply (any bytes, any headers, dripped or
endless) and records every request it receives, raw path included, so a test can assert that
a URL was never fetched. ``TcpTrap`` accepts connections and counts them without speaking HTTP:
nothing at all may reach it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.live_server import serve


@dataclass(frozen=True)
class Reply:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    #: Send the body in chunks of this size, without Content-Length (chunked encoding).
    chunk_size: int | None = None
    #: Seconds to wait before each chunk (needs ``chunk_size``).
    drip: float = 0.0
    #: Send the body again and again, forever (needs ``chunk_size``).
    endless: bool = False
    #: Header lines added as they are, so one name may repeat (two Content-Encoding lines).
    extra_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Seen:
    method: str
    #: The request target exactly as sent (percent-encoding kept), with the query.
    raw_target: str
    #: The path as the server decodes it.
    path: str
    authorization: str | None
    accept_encoding: str | None


@dataclass
class HostileServer:
    base_url: str = ""
    replies: dict[str, Reply] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def reply(self, path: str, reply: Reply) -> str:
        """Answer ``path`` (no query) with ``reply``; return its URL."""
        self.replies[path] = reply
        return self.base_url + path

    def paths(self) -> list[str]:
        return [s.raw_target for s in self.seen]

    def app(self) -> Starlette:
        async def anything(request: Request) -> Response:
            raw = request.scope.get("raw_path", b"").decode("latin-1")
            query = request.scope.get("query_string", b"").decode("latin-1")
            self.seen.append(
                Seen(
                    request.method,
                    raw + (f"?{query}" if query else ""),
                    request.url.path,
                    request.headers.get("authorization"),
                    request.headers.get("accept-encoding"),
                )
            )
            reply = self.replies.get(request.url.path)
            if reply is None:
                return Response(b'{"resourceType":"OperationOutcome"}', 404)
            response: Response
            if reply.chunk_size is None:
                response = Response(reply.body, reply.status, headers=reply.headers)
            else:
                response = StreamingResponse(_chunks(reply), reply.status, headers=reply.headers)
            response.raw_headers.extend((k.encode(), v.encode()) for k, v in reply.extra_headers)
            return response

        return Starlette(routes=[Route("/{path:path}", anything)])


async def _chunks(reply: Reply) -> AsyncIterator[bytes]:
    assert reply.chunk_size
    while True:
        for start in range(0, len(reply.body), reply.chunk_size):
            # Always yield to the loop: uvicorn drops writes to a closed connection silently,
            # so an endless body must give the disconnect a chance to cancel it.
            await asyncio.sleep(reply.drip)
            yield reply.body[start : start + reply.chunk_size]
        if not reply.endless:
            return


@asynccontextmanager
async def hostile_server() -> AsyncIterator[HostileServer]:
    server = HostileServer()
    async with serve(server.app()) as base_url:
        server.base_url = base_url
        yield server


@dataclass
class TcpTrap:
    """A port that counts every TCP connection made to it and never answers."""

    port: int = 0
    connections: int = 0


@asynccontextmanager
async def tcp_trap() -> AsyncIterator[TcpTrap]:
    trap = TcpTrap()

    async def caught(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        trap.connections += 1
        writer.close()

    server = await asyncio.start_server(caught, "127.0.0.1", 0)
    trap.port = server.sockets[0].getsockname()[1]
    try:
        yield trap
    finally:
        server.close()
        await server.wait_closed()
