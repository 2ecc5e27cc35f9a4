"""The card preview page: paste a request (or pick an example) and see the cards as an EHR would.

``GET /`` serves the page, ``GET /preview/*`` its script, style sheet and the shipped examples,
and ``POST /preview/evaluate`` answers a pasted document through the same ``Advisor`` as the hook
endpoints. Everything is in the package (no CDN: it works offline). ``RADIX_PREVIEW_ENABLED=false``
leaves all of it out, and ``/`` is then a 404.

The preview needs no JWT, so it must expose nothing beyond what was pasted: it never fetches
from a FHIR server (``fhirServer`` and ``fhirAuthorization`` are removed, see
``preview_request``), never reads the audit store, and is never written to it. It keeps the hook
calls' body, depth and resource limits, and is rate-limited per peer address.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources as package_files
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cds_service.app.json_response import JsonResponse
from cds_service.app.off_loop import off_loop
from cds_service.app.preview_request import pasted_request
from cds_service.app.rate_limiter import RateLimiter, peer_key
from cds_service.app.request_body import read_body
from cds_service.protocol import check_limits, decode_json
from cds_service.resources import data_dir

if TYPE_CHECKING:
    from cds_service.advisor import Advisor
    from cds_service.app.preview_request import PastedRequest
    from cds_service.protocol import HookRequest, ServiceDefinition
    from cds_service.settings import Settings

#: Evaluations per minute per peer address, and how many at once. Well above what a person
#: clicking through examples does; low enough that the unauthenticated page is no cheap way to
#: keep the engine busy.
PREVIEW_RATE_PER_MINUTE = 60
PREVIEW_BURST = 20

#: The page runs its own script and style sheet only: no inline script, no other origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_ASSETS = {
    "preview.js": "text/javascript",
    "preview.css": "text/css",
}
#: Where the page's HTML takes the drawing of the lower limbs (kept in its own file).
_SVG_SLOT = "<!-- limbs.svg -->"


def asset(name: str) -> bytes:
    """A file of ``cds_service/app/preview/``, from a checkout or an installed wheel."""
    return (package_files.files("cds_service.app") / "preview" / name).read_bytes()


@cache
def page() -> bytes:
    """The page, with the limbs drawing placed inline so the script can shade it."""
    html = asset("index.html").decode("utf-8")
    svg = asset("limbs.svg").decode("utf-8")
    return html.replace(_SVG_SLOT, svg, 1).encode("utf-8")


@cache
def examples() -> dict[str, Any]:
    """The shipped examples (``examples/index.json`` and the requests it lists)."""
    folder = data_dir("examples")
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    return {
        "examples": [
            {
                "id": item["file"].removesuffix(".json"),
                "title": item["title"],
                "expect": item["expect"],
                "request": json.loads((folder / item["file"]).read_text(encoding="utf-8")),
            }
            for item in index["examples"]
        ]
    }


@dataclass(frozen=True)
class Preview:
    """The preview's endpoints, with their own rate limiter (per peer, not per CDS client)."""

    limiter: RateLimiter
    max_body_bytes: int
    body_timeout: float | None = None

    async def index(self, request: Request) -> Response:
        return Response(page(), media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)

    async def static(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        return Response(asset(name), media_type=_ASSETS[name], headers=_PAGE_HEADERS)

    async def example_list(self, request: Request) -> Response:
        return JsonResponse(examples())

    async def evaluate(self, request: Request) -> Response:
        """Answer a pasted hook request or Bundle; errors are OperationOutcomes (handlers)."""
        self.limiter.acquire(peer_key(request))
        runtime = request.app.state.runtime
        advisor: Advisor = runtime.advisor
        body = await read_body(request, self.max_body_bytes, self.body_timeout)
        held = await runtime.bodies.acquire(len(body))
        try:
            # Decoding and validating a pasted megabyte is CPU work: off the event loop.
            pasted, service, hook_request = await off_loop(
                runtime.parse_threads, _parse_pasted, advisor, body
            )
            advice = await advisor.respond(hook_request)
            # Deliberately no runtime.store.audit(...): a preview is someone trying Radix on
            # pasted data, not an EHR's hook call. Recording it would count trials as clinical
            # decisions in the acceptance analytics and keep patient references nobody asked
            # Radix to store.
            return JsonResponse(
                {
                    "service": service.id,
                    "request": pasted.request,
                    "notices": pasted.notices,
                    "assessment": advice.evaluation.assessment.to_extension(),
                    "response": advice.response,
                }
            )
        finally:
            runtime.bodies.release(held)


def _parse_pasted(
    advisor: Advisor, body: bytes
) -> tuple[PastedRequest, ServiceDefinition, HookRequest]:
    doc = decode_json(body)
    if advisor.limits is not None:
        # Before the Bundle is walked: a hostile depth is refused before any work on it.
        check_limits(doc, advisor.limits)
    pasted = pasted_request(doc, advisor.service_for_hook("patient-view"))
    service = advisor.service_for_hook(pasted.request.get("hook"))
    hook_request = advisor.parse(service.id, orjson.dumps(pasted.request))
    # Already removed from the document; cleared here too, so no path can reach a server.
    hook_request = dataclasses.replace(hook_request, fhir_server=None, fhir_authorization=None)
    return pasted, service, hook_request


def preview_routes(settings: Settings) -> list[Route]:
    """The page and its endpoints, or nothing when ``RADIX_PREVIEW_ENABLED`` is false."""
    if not settings.preview_enabled:
        return []
    preview = Preview(
        RateLimiter(PREVIEW_RATE_PER_MINUTE, PREVIEW_BURST),
        settings.max_body_bytes,
        settings.body_timeout_seconds,
    )
    return [
        Route("/", preview.index, methods=["GET"]),
        Route("/preview/preview.js", preview.static, methods=["GET"]),
        Route("/preview/preview.css", preview.static, methods=["GET"]),
        Route("/preview/examples", preview.example_list, methods=["GET"]),
        Route("/preview/evaluate", preview.evaluate, methods=["POST"]),
    ]
