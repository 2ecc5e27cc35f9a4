"""W3C trace context: which ``traceparent`` headers are taken, and that the trace goes on to the
EHR's FHIR server (a real server on 127.0.0.1 that records what it receives)."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cds_service.app import create_app
from cds_service.app.observability import TraceParent
from tests.app.test_application import CASES, _settings, hook_request
from tests.live_server import serve

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SERVICE = "/cds-services/radix-lumbar-radiculopathy"


@pytest.mark.parametrize(
    ("header", "trace_id"),
    [
        (f"00-{TRACE}-00f067aa0ba902b7-01", TRACE),
        (f"00-{TRACE}-00f067aa0ba902b7-00", TRACE),
        # A later version may add fields; a receiver reads the first four.
        (f"cc-{TRACE}-00f067aa0ba902b7-01-what-the-future-holds", TRACE),
        (f"  00-{TRACE}-00f067aa0ba902b7-01 ", TRACE),
        (f"ff-{TRACE}-00f067aa0ba902b7-01", None),  # version ff is invalid
        (f"00-{TRACE}-00f067aa0ba902b7-01-extra", None),  # version 00 has four fields
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),  # all-zero trace id
        (f"00-{TRACE}-{'0' * 16}-01", None),  # all-zero parent id
        (f"00-{TRACE.upper()}-00f067aa0ba902b7-01", None),  # upper case is not allowed
        (f"00-{TRACE[:-1]}-00f067aa0ba902b7-01", None),
        ("garbage", None),
        ("", None),
    ],
)
def test_which_traceparent_headers_are_taken(header, trace_id):
    parsed = TraceParent.parse(header)
    assert (parsed.trace_id if parsed else None) == trace_id


def test_a_child_keeps_the_trace_and_flags_with_a_new_parent_id():
    parent = TraceParent(TRACE, "01")
    children = {parent.child() for _ in range(20)}
    assert len(children) == 20
    for child in children:
        assert re.fullmatch(rf"00-{TRACE}-[0-9a-f]{{16}}-01", child)
        assert TraceParent.parse(child) == parent


async def test_the_trace_goes_on_to_the_fhir_server(tmp_path):
    seen: list[str | None] = []

    async def anything(request: Request) -> Response:
        seen.append(request.headers.get("traceparent"))
        return Response(status_code=404)

    fhir = Starlette(routes=[Route("/fhir/{rest:path}", anything)])
    app = create_app(_settings(tmp_path))
    async with serve(fhir) as fhir_url, serve(app) as url, httpx.AsyncClient(timeout=30) as client:
        body = hook_request(CASES["ces-retention"], fhirServer=f"{fhir_url}/fhir")
        del body["prefetch"]
        traced = await client.post(
            url + SERVICE, json=body, headers={"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}
        )
        count = len(seen)
        untraced = await client.post(url + SERVICE, json=body)
    assert traced.status_code == untraced.status_code == 412  # nothing found there
    assert count > 0 and len(seen) > count
    assert all(h and h.startswith(f"00-{TRACE}-") and h.endswith("-01") for h in seen[:count])
    assert all(h != f"00-{TRACE}-00f067aa0ba902b7-01" for h in seen[:count])  # new parent ids
    assert seen[count:] == [None] * (len(seen) - count)  # no trace, nothing invented
