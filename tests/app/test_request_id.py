"""Request ids: echoed when sane, replaced when not, present on every answer (500s too)."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cds_service.app.request_id import RequestIdMiddleware, request_id_of
from cds_service.log_format import REQUEST_ID


@pytest.mark.parametrize(
    "value", ["abc", "3f1c9d2e-7b4a-4c1e-9f0d-2a6b8c4e1d00", "trace.1:span_2", "x" * 128]
)
def test_a_sane_caller_id_is_kept(value):
    assert request_id_of([(b"x-request-id", value.encode())]) == value


@pytest.mark.parametrize(
    "value", [b"", b"x" * 129, b"a b", b"line\nbreak", b"-leading", b"\xff\xfe", b"{json}"]
)
def test_an_insane_caller_id_is_replaced(value):
    replaced = request_id_of([(b"x-request-id", value)])
    assert replaced != value.decode("latin-1") and len(replaced) == 32


def _app() -> Starlette:
    async def ok(request):
        return PlainTextResponse(REQUEST_ID.get() or "")

    async def boom(request):
        raise RuntimeError("internal detail")

    app = Starlette(routes=[Route("/ok", ok), Route("/boom", boom)])
    app.add_middleware(RequestIdMiddleware)
    return app


async def test_the_id_is_echoed_and_visible_to_the_handler():
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://radix") as client:
        given = await client.get("/ok", headers={"X-Request-ID": "req-42"})
        fresh = await client.get("/ok")
    assert given.headers["x-request-id"] == "req-42" and given.text == "req-42"
    assert fresh.headers["x-request-id"] == fresh.text and len(fresh.text) == 32


async def test_an_unhandled_exception_is_a_500_outcome_with_the_id(caplog):
    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://radix") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500 and response.headers["x-request-id"] == "req-500"
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "internal detail" not in response.text
    access = [r for r in caplog.records if r.name == "radix.access"]
    assert access and access[-1].status == 500
