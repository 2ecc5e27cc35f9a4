"""Resources that live as long as an ``async with`` block, in the shape of ``httpx.AsyncClient``."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self


class AsyncResource:
    """Opened by ``async with`` (``_open``: nothing unless a subclass connects first) and closed
    by ``aclose()`` when the block ends, however it ends; ``aclose()`` also works on its own."""

    async def _open(self) -> None:
        return None

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class Resource(Protocol):
    """The shape of an ``AsyncResource`` for a protocol to extend: an interface whose
    implementations hold something to release (a Redis connection pool) says it with this."""

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
