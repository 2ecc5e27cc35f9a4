"""The card preview over real HTTP: the page and its assets, and ``POST /preview/evaluate``.

What it must never do is checked against live parts: a FHIR server on loopback that records
every request (allowed by the settings, so only the preview's own rule keeps it unasked), and the
audit database read back after the app has shut down.
"""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cds_service.app import create_app
from cds_service.app.preview import CONTENT_SECURITY_POLICY, PREVIEW_BURST, asset
from cds_service.app.preview_request import FHIR_SERVER_REMOVED
from cds_service.settings import Settings
from cds_service.store.store import Store
from tests.examples import EXAMPLES, engine_answer
from tests.live_server import serve

EVALUATE = "/preview/evaluate"
HOOK = "/cds-services/radix-lumbar-radiculopathy"


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path, "auth_required": False}
    values.update(overrides)
    return Settings(**values)


def _outcome(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["diagnostics"]


def _shown(card: dict[str, Any]) -> tuple[Any, ...]:
    """What a clinician sees of a card, without ids, encounter and requester references."""
    labels = [s["label"] for s in card.get("suggestions", [])]
    assessment = card["extension"]["org.radix-cds.assessment"]
    return card["indicator"], card["summary"], card.get("detail"), labels, assessment


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture
async def radix(tmp_path: Path):
    async with (
        serve(create_app(_settings(tmp_path))) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        yield http


async def test_the_page_is_served_with_a_strict_content_security_policy(radix):
    page = await radix.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY and "default-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    parser = _Tags()
    parser.feed(page.text)
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts == [{"src": "/preview/preview.js", "defer": None}], "no inline script"
    assert not [a for _, attrs in parser.tags for a in attrs if a.startswith("on")], "no handlers"
    assert not [attrs for _, attrs in parser.tags if "style" in attrs], "no inline styles"
    for _, attrs in parser.tags:
        for name in ("src", "href"):
            link = attrs.get(name) or ""
            assert not link.startswith(("http:", "https:", "//")), f"{link}: nothing off-site"
    # The drawing is inline, so the script can shade it: the five roots on both sides.
    for root in ("L2", "L3", "L4", "L5", "S1"):
        for side in ("left", "right"):
            assert f'data-root="{root}" data-side="{side}"' in page.text
    for name, kind in (("preview.js", "text/javascript"), ("preview.css", "text/css")):
        response = await radix.get(f"/preview/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert response.content == asset(name)


def test_the_script_never_parses_text_as_html():
    script = asset("preview.js").decode()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "new Function" not in script


async def test_the_examples_are_served_as_shipped(radix):
    served = (await radix.get("/preview/examples")).json()["examples"]
    assert {e["id"]: e["request"] for e in served} == EXAMPLES
    assert all(e["title"] and e["expect"] for e in served)


@pytest.mark.parametrize("example_id", EXAMPLES)
async def test_an_example_gets_exactly_the_engines_answer(radix, example_id: str):
    request = EXAMPLES[example_id]
    response = await radix.post(EVALUATE, content=orjson.dumps(request))
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = await engine_answer(request)
    assert answer["response"] == expected["response"]
    assert answer["assessment"] == expected["assessment"]
    assert answer["request"] == request and answer["notices"] == []


async def test_a_pasted_fhir_server_is_never_asked(tmp_path: Path):
    hits: list[str] = []

    async def record(request: Request) -> Response:
        hits.append(f"{request.method} {request.url.path}")
        return JSONResponse({"resourceType": "Bundle", "type": "searchset", "total": 0})

    fhir = Starlette(routes=[Route("/{path:path}", record, methods=["GET", "POST"])])
    # Loopback FHIR servers are allowed here: only the preview's own rule keeps this one unasked.
    app = create_app(_settings(tmp_path, fhir_allow_loopback=True))
    async with (
        serve(fhir) as fhir_url,
        serve(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        complete = copy.deepcopy(EXAMPLES["patient-view-cauda-equina"])
        complete["fhirServer"] = fhir_url
        complete["fhirAuthorization"] = {
            "access_token": "secret-ehr-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "radix",
        }
        answered = await http.post(EVALUATE, json=complete)
        assert answered.status_code == 200, answered.text
        body = answered.json()
        assert body["notices"] == [FHIR_SERVER_REMOVED]
        assert "fhirServer" not in body["request"] and "fhirAuthorization" not in body["request"]
        assert "secret-ehr-token" not in answered.text
        assert body["response"]["cards"][0]["indicator"] == "critical"

        # Essential keys missing: a hook call would fetch them; the preview answers 412.
        partial = copy.deepcopy(complete)
        for key in ("conditions", "observations", "procedures"):
            del partial["prefetch"][key]
        diagnostics = _outcome(await http.post(EVALUATE, json=partial), 412)
        assert "conditions" in diagnostics and "observations" in diagnostics

        # The same request to the hook service does fetch: the recorder is reachable.
        assert (await http.post(HOOK, json=partial)).status_code == 200
    assert hits and all(h.startswith("GET ") for h in hits)
    fetched_by_hook_call = len(hits)
    assert fetched_by_hook_call == 3, hits  # only the hook call's three keys, nothing before


def _bundle(request: dict[str, Any]) -> dict[str, Any]:
    """A collection Bundle of every resource of the request's prefetch."""
    resources = [request["prefetch"]["patient"]]
    for key, value in request["prefetch"].items():
        if key != "patient" and value is not None:
            resources += [entry["resource"] for entry in value.get("entry", [])]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


async def test_a_pasted_bundle_becomes_a_patient_view_request(radix):
    example = EXAMPLES["patient-view-l5-left"]
    bundle = _bundle(example)
    stranger = {
        "resourceType": "Condition",
        "id": "someone-else",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "R33.9"}]},
        "subject": {"reference": "Patient/another-patient"},
    }
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": "Patient/ex-l5-pat"},
    }
    bundle["entry"] += [{"resource": stranger}, {"resource": encounter}]
    response = await radix.post(EVALUATE, json=bundle)
    assert response.status_code == 200, response.text
    answer = response.json()
    built = answer["request"]
    assert (built["hook"], built["context"]["patientId"]) == ("patient-view", "ex-l5-pat")
    assert set(built["prefetch"]) == set(example["prefetch"])
    assert "someone-else" not in orjson.dumps(built).decode()
    assert any("another patient" in n for n in answer["notices"])
    assert any("1 Encounter" in n for n in answer["notices"])
    # Exactly the engine's answer to the request built, and the example's conclusions.
    assert answer["response"] == (await engine_answer(built))["response"]
    original = (await engine_answer(example))["response"]["cards"]
    assert [_shown(c) for c in answer["response"]["cards"]] == [_shown(c) for c in original]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "Paste a CDS Hooks request"),
        (b'{"resourceType": "Patient", "id": "p"}', 400, "Paste a CDS Hooks request"),
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": []}',
            400,
            "exactly one Patient",
        ),
        (
            b'{"hook": "encounter-start", "hookInstance": "x", "context": {}}',
            400,
            "encounter-start",
        ),
        (b'{"hook": "patient-view", "hookInstance": "x", "context": {}}', 400, "context"),
        (b"[" * 100 + b"]" * 100, 400, "deeper than"),
    ],
)
async def test_errors_are_operation_outcomes(radix, body: bytes, status: int, words: str):
    assert words in _outcome(await radix.post(EVALUATE, content=body), status)


async def test_the_hook_calls_size_and_resource_limits_hold(tmp_path: Path):
    settings = _settings(tmp_path, max_body_bytes=40_000, max_prefetch_resources=10)
    async with (
        serve(create_app(settings)) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        assert "larger than 40000 bytes" in _outcome(
            await http.post(EVALUATE, content=b" " * 40_001), 413
        )
        example = EXAMPLES["patient-view-l5-left"]  # 13 resources in its prefetch
        assert "more than 10 resources" in _outcome(await http.post(EVALUATE, json=example), 413)
        # A Bundle is counted once it is a request: the same 13 resources, the same refusal.
        assert "more than 10 resources" in _outcome(
            await http.post(EVALUATE, json=_bundle(example)), 413
        )


async def test_it_is_rate_limited_per_peer_address(radix):
    statuses = []
    for _ in range(PREVIEW_BURST + 5):
        response = await radix.post(EVALUATE, content=b"{}")
        statuses.append(response.status_code)
    assert statuses[:PREVIEW_BURST] == [400] * PREVIEW_BURST
    limited = await radix.post(EVALUATE, content=b"{}")
    _outcome(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    # The CDS services have their own limit: the preview's does not spend it.
    assert (await radix.get("/cds-services")).status_code == 200


async def test_the_preview_is_neither_audited_nor_counted(tmp_path: Path):
    settings = _settings(tmp_path)
    async with (
        serve(create_app(settings)) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        for request in EXAMPLES.values():
            assert (await http.post(EVALUATE, json=request)).status_code == 200
        await http.post(EVALUATE, content=b"{oops")
        # One real hook call, so an empty trail is not merely a store that records nothing.
        hook = await http.post(HOOK, json=EXAMPLES["patient-view-cauda-equina"])
        assert hook.status_code == 200
    store = Store(settings.sqlalchemy_url)
    await store.open()
    try:
        summary = await store.summary(None, None)
    finally:
        await store.close()
    assert summary["hookCalls"] == 1
    assert [h["hook"] for h in summary["hooks"]] == ["patient-view"]


async def test_disabled_the_page_and_its_endpoints_are_gone(tmp_path: Path):
    app = create_app(_settings(tmp_path, preview_enabled=False))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        for method, path in (
            ("GET", "/"),
            ("GET", "/preview/preview.js"),
            ("GET", "/preview/examples"),
            ("POST", EVALUATE),
        ):
            _outcome(await http.request(method, path, content=b"{}"), 404)
        assert (await http.get("/cds-services")).status_code == 200
