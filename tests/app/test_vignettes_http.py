"""Every clinical case (the project's own, and the shared vignettes when present) through the
real HTTP stack: once with every prefetch template resolved against a real FHIR server holding
the record, once with no prefetch but ``fhirServer`` + ``fhirAuthorization``. Both must meet
``expected``."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cds_service.advisor import utc_now
from cds_service.app import create_app
from cds_service.data.prefetch_template import render_template
from cds_service.protocol.catalogue import load_catalogue
from cds_service.settings import Settings
from tests.cds_response_rules import assert_valid_response
from tests.fhir_server import FhirTestServer
from tests.live_server import serve
from tests.vignette_expectations import check
from tests.vignettes import Vignette, every_case

pytestmark = pytest.mark.integration

VIGNETTES = every_case()
CATALOGUE = load_catalogue()
TOKEN = "vignette-access-token"


@dataclass(frozen=True)
class Ehr:
    """The FHIR server holding every case, and the cases as loaded (dates as of when?)."""

    server: FhirTestServer
    cases: dict[str, Vignette]
    frozen_clock: bool


@pytest.fixture(scope="module", params=["clock-at-asOf", "dates-shifted-to-now"])
def ehr(request, fhir_server) -> Ehr:
    """Both ways the vignettes README allows: the clock frozen at asOf, or every date shifted so
    that asOf is now and the service runs on the real clock (as the held-out evaluator does)."""
    frozen = request.param == "clock-at-asOf"
    now = datetime.now(UTC)
    cases = {v.id: v if frozen else v.shifted(now) for v in VIGNETTES}
    fhir_server.reset()
    fhir_server.clear_faults()
    fhir_server.require_token(None)
    fhir_server.load([r for v in cases.values() for r in v.resources])
    return Ehr(fhir_server, cases, frozen)


def _service(hook: str):
    return next(s for s in CATALOGUE.services.values() if s.hook == hook)


def resolved_prefetch(vignette: Vignette, base_url: str) -> dict[str, Any]:
    """What an EHR sends: each template run against its FHIR server; a read that finds nothing
    is ``null``; a failed query is left out."""
    prefetch: dict[str, Any] = {}
    for key, template in _service(vignette.hook).prefetch.items():
        query = render_template(template, vignette.context)
        response = httpx.get(f"{base_url}/{query}")
        if response.status_code == 404 and "?" not in template:
            prefetch[key] = None
        elif response.status_code == 200:
            prefetch[key] = response.json()
    return prefetch


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v.id for v in VIGNETTES])
async def test_vignette_over_http(vignette: Vignette, ehr: Ehr, tmp_path):
    vignette = ehr.cases[vignette.id]
    settings = Settings(data_dir=tmp_path, fhir_allow_loopback=True, auth_required=False)
    app = create_app(settings, clock=(lambda: vignette.as_of) if ehr.frozen_clock else utc_now)
    service = _service(vignette.hook)
    base = {
        "hook": vignette.hook,
        "hookInstance": f"{vignette.id}-instance",
        "context": copy.deepcopy(vignette.context),
    }
    server = {
        "fhirServer": ehr.server.base_url,
        "fhirAuthorization": {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "radix",
        },
    }
    # As an EHR sends it: prefetch, and the server for what prefetch cannot carry (a note's
    # text given by url, as a Binary).
    with_prefetch = {**base, **server, "prefetch": resolved_prefetch(vignette, ehr.server.base_url)}
    with_fallback = {**base, **server}

    answers = []
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=15) as client:
        for body in (with_prefetch, with_fallback):
            response = await client.post(f"/cds-services/{service.id}", json=body)
            assert response.status_code == 200, response.text
            answers.append(response.json())

    for run, answer in zip(("prefetch", "fallback"), answers, strict=True):
        assert_valid_response(answer)
        assert check(vignette, answer) == [], f"{run}: {vignette.description}"
    assert answers[0] == answers[1], "prefetch and FHIR fallback must give the same answer"
