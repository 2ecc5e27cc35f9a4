"""Reading a request body without ever holding more than the configured limit."""

from __future__ import annotations

from starlette.requests import Request

from cds_service.errors import ServiceError


def _too_large(limit: int) -> ServiceError:
    return ServiceError(
        413, "too-long", f"The request body is larger than {limit} bytes.", kind="body-too-large"
    )


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
