"""The handlers answer every refusal type alike: its status, OperationOutcome and headers."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route

from cds_service.app import error_handlers
from cds_service.errors import (
    BodyTooLarge,
    DatabaseUnavailable,
    PeerThrottled,
    ServiceError,
    Unauthenticated,
    WrongHook,
)


class _Teapot(ServiceError):
    """A type the handler has never heard of: what it answers comes from the type alone."""

    status, code, kind = 418, "processing", "teapot"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Teapot": "short"}


_RAISED: dict[str, ServiceError] = {
    "wrong-hook": WrongHook("Service 'x' answers the 'patient-view' hook."),
    "unauthenticated": Unauthenticated("Authentication failed."),
    "too-large": BodyTooLarge("The request body is larger than 10 bytes."),
    "throttled": PeerThrottled(4),
    "down": DatabaseUnavailable("The database is unavailable.", 30),
    "teapot": _Teapot("I am one."),
}


async def _raise(request: Request) -> None:
    name = request.path_params["name"]
    if name == "boom":
        raise RuntimeError("secret internals")
    if name == "forbidden":
        raise HTTPException(403, "Not for you.")
    raise _RAISED[name]


def _client() -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/raise/{name}", _raise, methods=["GET"])],
        exception_handlers={
            ServiceError: error_handlers.service_error,
            HTTPException: error_handlers.http_error,
            Exception: error_handlers.unexpected_error,
        },
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://radix")


def _outcome(response: httpx.Response) -> tuple[int, str, str]:
    """Status, issue code and diagnostics of an OperationOutcome answer with one error issue."""
    assert response.headers["content-type"] == "application/fhir+json"
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and len(body["issue"]) == 1
    issue = body["issue"][0]
    assert issue["severity"] == "error"
    return response.status_code, issue["code"], issue["diagnostics"]


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("wrong-hook", {}),
        ("unauthenticated", {"www-authenticate": "Bearer"}),
        ("too-large", {}),
        ("throttled", {"retry-after": "4"}),
        ("down", {"retry-after": "30"}),
        ("teapot", {"x-teapot": "short"}),
    ],
)
async def test_a_refusal_is_answered_from_its_type(name: str, headers: dict[str, str]) -> None:
    error = _RAISED[name]
    async with _client() as client:
        response = await client.get(f"/raise/{name}")
    assert _outcome(response) == (error.status, error.code, error.message)
    for header in ("www-authenticate", "retry-after", "x-teapot"):
        assert response.headers.get(header) == headers.get(header)


async def test_starlettes_refusals_are_described_in_radixs_words() -> None:
    async with _client() as client:
        missing = await client.get("/nowhere")
        wrong_method = await client.post("/raise/x")
        forbidden = await client.get("/raise/forbidden")
    assert _outcome(missing) == (
        404,
        "not-found",
        "Nothing is served at /nowhere; see GET /cds-services.",
    )
    assert _outcome(wrong_method) == (405, "not-supported", "POST is not allowed on /raise/x.")
    assert set(wrong_method.headers["allow"].split(", ")) == {"GET", "HEAD"}  # Starlette's
    assert _outcome(forbidden) == (403, "forbidden", "Not for you.")


async def test_anything_else_is_a_500_that_says_nothing_of_internals() -> None:
    async with _client() as client:
        response = await client.get("/raise/boom")
    assert _outcome(response) == (
        500,
        "exception",
        "Radix could not process this request; it has been logged.",
    )
    assert "secret" not in response.text
