"""Reading a request body without ever holding more than the configured limit."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from cds_service.errors import BodyTimeout, BodyTooLarge, UnsupportedMediaType


def require_json(request: Request) -> None:
    """A 415 unless the body is declared JSON (``application/json``, ``application/fhir+json``
    or any ``+json`` type): a form post or plain text is not a CDS Hooks call."""
    declared = request.headers.get("content-type", "")
    media = declared.split(";", 1)[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    shown = media[:60] or "none"
    raise UnsupportedMediaType(
        f"The request body must be JSON (Content-Type: application/json), not {shown}."
    )


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The request body is larger than {limit} bytes.")


def check_declared_size(request: Request, limit: int) -> None:
    """A 413 for a declared ``Content-Length`` over ``limit``, before a byte of it is read."""
    declared = request.headers.get("content-length", "")
    # ASCII digits only, and never int() of thousands of them (Python refuses those).
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise _too_large(limit)


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """The body, refused (413) as soon as it is over ``limit`` bytes, or (408) once it has
    taken longer than ``timeout`` seconds to arrive: a trickled body holds a connection."""
    check_declared_size(request, limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(f"The request body did not arrive within {timeout:g} s.") from None
    return b"".join(chunks)
