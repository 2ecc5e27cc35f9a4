"""Reading an HTTP response body with a hard cap on the bytes received AND the bytes decoded.

httpx's ``aiter_bytes()`` hands each received chunk to a decoder that decompresses it whole
before anyone can count: a 1.8 KB body sent as ``Content-Encoding: gzip, gzip`` became 1 GiB in
one call, froze the event loop for seconds and blew every deadline. Here the raw stream
(still compressed) goes through a decoder of our own that stops producing
output one byte past the limit, so memory and CPU per response stay proportional to the limit,
whatever the server sends. Only one coding is decoded (gzip); stacked or unknown codings are
refused, never passed through.
"""

from __future__ import annotations

import re
import zlib

import httpx

#: ``Accept-Encoding`` for bulky JSON (FHIR searches): gzip, the one coding decoded here.
#: Identity is implicitly acceptable too (RFC 9110 §12.5.3).
ACCEPT_GZIP = "gzip"
#: ``Accept-Encoding`` for small documents (a JWK Set) where compression saves nothing.
ACCEPT_IDENTITY = "identity"

_GZIP_CODINGS = frozenset({"gzip", "x-gzip"})
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer, 32 KiB window
_UNSAFE = re.compile(r"[^a-z0-9._+, -]")


class BodyRefused(Exception):
    """The body is too large, or in a coding Radix does not decode; ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def content_coding(headers: httpx.Headers) -> str | None:
    """``None`` for an unencoded body, ``"gzip"`` for gzip; anything else raises BodyRefused."""
    codings = [
        value.strip().lower()
        for value in headers.get_list("content-encoding", split_commas=True)
        if value.strip() and value.strip().lower() != "identity"
    ]
    if len(codings) > 1:
        # Each layer multiplies the expansion: 1.8 KB of gzip-of-gzip is 1 GiB of zeros.
        raise BodyRefused(f"stacked content codings ({_shown(', '.join(codings))}) are refused")
    if not codings:
        return None
    if codings[0] not in _GZIP_CODINGS:
        raise BodyRefused(f"the content coding {_shown(codings[0])!r} is not supported")
    return "gzip"


class BoundedDecoder:
    """Feeds raw chunks in and keeps the decoded body, refusing it past ``limit`` bytes.

    Both counts are capped: the bytes received (an endless run of empty deflate blocks decodes
    to nothing but must still end) and the bytes decoded (a bomb). zlib is asked for at most one
    byte more than the room left, so no single call can expand beyond the limit.
    """

    def __init__(self, coding: str | None, limit: int) -> None:
        self._limit = limit
        self._received = 0
        self._body = bytearray()
        self._gzip = zlib.decompressobj(_GZIP_WBITS) if coding == "gzip" else None

    def feed(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self._limit:
            raise _too_large()
        if self._gzip is None:
            self._append(chunk)
            return
        pending = chunk
        while pending:
            if self._gzip.eof:
                # A further gzip member (RFC 1952 §2.2 allows several in a row).
                self._gzip = zlib.decompressobj(_GZIP_WBITS)
            room = self._limit - len(self._body)
            try:
                decoded = self._gzip.decompress(pending, room + 1)
            except zlib.error:
                raise BodyRefused("the gzip body is corrupt") from None
            self._append(decoded)
            rest = self._gzip.unconsumed_tail or self._gzip.unused_data
            if not decoded and len(rest) == len(pending):
                raise BodyRefused("the gzip body is corrupt")  # no progress: never loop on it
            pending = rest

    def finish(self) -> bytes:
        """The whole decoded body; a gzip stream cut short is refused, not half-used."""
        if self._gzip is not None and not self._gzip.eof:
            raise BodyRefused("the gzip body is truncated")
        return bytes(self._body)

    def _append(self, data: bytes) -> None:
        if len(self._body) + len(data) > self._limit:
            raise _too_large()
        self._body += data


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The decoded body of a streamed ``response``, at most ``limit`` bytes; or BodyRefused.

    The caller keeps its own deadline around this: each raw chunk costs at most ``limit`` bytes
    of decoding, so cancellation is never held up by one huge decompression.
    """
    coding = content_coding(response.headers)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large()
    decoder = BoundedDecoder(coding, limit)
    # The raw stream, as ``aiter_raw()`` reads it; iterated directly because a response built in
    # memory (httpx.MockTransport) counts as already consumed yet still holds its raw bytes.
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("read_bounded needs a response from an async client")
    async for chunk in stream:
        decoder.feed(chunk)
    return decoder.finish()


def _too_large() -> BodyRefused:
    return BodyRefused("response larger than the configured limit")


def _shown(value: str) -> str:
    """A header value fit for a log line or an error message: short, no odd characters."""
    return _UNSAFE.sub("?", value[:40])
