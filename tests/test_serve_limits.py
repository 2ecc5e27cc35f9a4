"""Connection-level limits of ``cds-service serve``, against the real process over real sockets.

Huge unfinished headers, slow headers, idle keep-alive connections, trickled bodies, more
connections than the cap, and who may set ``X-Forwarded-For``. Memory is the server's RSS from
/proc; the time bounds are generous security properties, not benchmarks.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.served import Served, served

SERVICE = "/cds-services/radix-lumbar-radiculopathy"
MIB = 1024 * 1024


async def _read_answer(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """What the server sends before closing (b"" if it just closed), within ``timeout``."""
    try:
        return await asyncio.wait_for(reader.read(4096), timeout)
    except (ConnectionResetError, BrokenPipeError):
        return b""


async def _read_response(reader: asyncio.StreamReader, answer: bytes, timeout: float) -> bytes:
    """``answer`` read on to the end of its body: a head and its body may come in two reads."""
    while b"\r\n\r\n" not in answer and (more := await _read_answer(reader, timeout)):
        answer += more
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length and (more := await _read_answer(reader, timeout)):
        body += more
    return head + b"\r\n\r\n" + body


async def _endless_header(port: int, limit: int) -> tuple[int, bytes]:
    """Send a request whose one header never ends, up to ``limit`` bytes, streamed in 64 KiB
    chunks; return how much was sent before the server stopped reading, and its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /livez HTTP/1.1\r\nHost: radix\r\nX-Padding: ")
    chunk = b"a" * 65_536
    sent = 0
    try:
        while sent < limit:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 30)
            sent += len(chunk)
    except (ConnectionResetError, BrokenPipeError):
        pass
    answer = await _read_answer(reader, 10)
    writer.close()
    return sent, answer


async def _peak_rss_while(server: Served, work: asyncio.Future[object]) -> int:
    peak = server.rss_bytes()
    while not work.done():
        peak = max(peak, server.rss_bytes())
        await asyncio.sleep(0.02)
    return peak


async def test_ten_unfinished_100_mib_headers_are_refused_with_bounded_memory(tmp_path: Path):
    with served(tmp_path / "data") as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            assert (await client.get("/livez")).status_code == 200  # warmed up
        before = server.rss_bytes()
        work = asyncio.gather(*(_endless_header(server.port, 100 * MIB) for _ in range(10)))
        peak = await _peak_rss_while(server, work)
        results = await work
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            still_serving = (await client.get("/livez")).status_code
    for sent, answer in results:
        # Refused after RADIX_MAX_HEADER_BYTES (16 KiB): what got through is socket buffers.
        assert sent < 20 * MIB
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:60]
    assert peak - before < 100 * MIB, f"RSS grew by {(peak - before) / MIB:.0f} MiB"
    assert still_serving == 200


async def _slow_head(port: int, step: float, first: bytes = b"") -> tuple[float, bytes]:
    """Send ``first`` then a request head one byte per ``step`` seconds until the server closes
    the connection; return after how long (counted from the head's first byte) and its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if first:
        writer.write(first)
        await writer.drain()
        # The whole first answer, so that none of it is taken for the answer to the slow head.
        await _read_response(reader, b"", 5)
    head = b"GET /livez HTTP/1.1\r\nHost: radix\r\nX-Slow: " + b"a" * 1000
    started = time.monotonic()
    answer = b""
    for byte in head:
        try:
            writer.write(bytes([byte]))
            await writer.drain()
            answer = await _read_answer(reader, step)
        except TimeoutError:
            continue  # nothing yet: the next byte
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
        break
    if not answer:
        answer = await _read_answer(reader, 30)
    writer.close()
    return time.monotonic() - started, answer


async def _trickle(port: int, step: float) -> tuple[float, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(
        f"POST {SERVICE} HTTP/1.1\r\nHost: radix\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n{".encode()
    )
    await writer.drain()
    try:
        while True:
            answer = await asyncio.wait_for(reader.read(4096), step)
            break
    except TimeoutError:
        answer = b""
    while not answer and time.monotonic() - started < 30:
        writer.write(b" ")
        await writer.drain()
        try:
            answer = await asyncio.wait_for(reader.read(4096), step)
        except TimeoutError:
            continue
    took = time.monotonic() - started
    answer = await _read_response(reader, answer, 5)
    writer.close()
    return took, answer


@pytest.fixture
def quick(tmp_path: Path):
    """Radix with one-second head, keep-alive and body deadlines."""
    with served(
        tmp_path / "data",
        header_timeout_seconds="1",
        keep_alive_seconds="1",
        body_timeout_seconds="1",
    ) as server:
        yield server


async def test_a_slow_header_is_answered_408_and_closed_after_the_header_timeout(quick):
    took, answer = await asyncio.wait_for(_slow_head(quick.port, 0.1), 60)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:60]
    assert 0.8 < took < 5, took


async def test_a_slow_second_header_on_a_kept_alive_connection_is_cut_too(quick):
    first = b"GET /livez HTTP/1.1\r\nHost: radix\r\n\r\n"
    took, answer = await asyncio.wait_for(_slow_head(quick.port, 0.1, first), 60)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:60]
    assert 0.8 < took < 5, took


async def test_an_idle_connection_is_closed(quick):
    for opening in (b"", b"GET /livez HTTP/1.1\r\nHost: radix\r\n\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", quick.port)
        writer.write(opening)
        await writer.drain()
        started = time.monotonic()
        received = b""
        while chunk := await asyncio.wait_for(reader.read(4096), 10):
            received += chunk
        writer.close()
        assert time.monotonic() - started < 5  # closed by the server, not by our timeout
        if opening:
            assert received.startswith(b"HTTP/1.1 200")


async def test_a_trickled_body_is_answered_408(quick):
    took, answer = await asyncio.wait_for(_trickle(quick.port, 0.2), 60)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:60]
    assert b"did not arrive within 1 s" in answer
    assert 0.8 < took < 5, took


async def test_connections_over_the_cap_get_503_until_one_closes(tmp_path: Path):
    with served(tmp_path / "data", max_connections="4", header_timeout_seconds="60") as server:
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(4)]
        await asyncio.sleep(0.2)  # accepted
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            refused = await client.get("/livez")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["connection"] == "close"
            _, writer = held.pop()
            writer.close()
            for _ in range(50):
                if (await client.get("/livez")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("a freed connection slot was never reused")
        for _, writer in held:
            writer.close()


async def _peer_buckets_rotate(server: Served) -> list[int]:
    """Five calls, each claiming another client address in X-Forwarded-For (burst 2)."""
    statuses = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        for n in range(5):
            forwarded = {"X-Forwarded-For": f"198.51.100.{n}"}
            statuses.append((await client.get("/cds-services", headers=forwarded)).status_code)
    return statuses


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [("", [200, 200, 429, 429, 429]), ("127.0.0.1", [200] * 5)],
    ids=["untrusted", "trusted-proxy"],
)
async def test_forwarded_for_is_believed_only_from_the_configured_proxy(
    tmp_path: Path, trusted: str, expected: list[int]
):
    """Untrusted, a rotated X-Forwarded-For buys no fresh bucket; from the trusted proxy the
    header is the client's address (here every call claims another client)."""
    with served(
        tmp_path / "data",
        forwarded_allow_ips=trusted,
        rate_limit_per_minute="60",
        rate_limit_burst="2",
    ) as server:
        assert await _peer_buckets_rotate(server) == expected
