"""What real CDS clients need, over real HTTP: PAMA ratings they can read, ratings on every
suggested order, the pre-2.0 ``extension.systemActions`` for the clients that ask for it, no
advice on partial or wrong-patient data, ids that never collide across patients, strict
feedback and media types, and CORS preflights from public pages to private networks.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.app import create_app
from tests.app.test_application import CASES, SERVICE_OF, _settings, hook_request
from tests.auth.conftest import SigningKey, jwks_of
from tests.cards.factory import pama, suggested_orders
from tests.cds_response_rules import assert_valid_response
from tests.live_server import serve

ARGONAUT = "http://fhir.org/argonaut/Extension/"
ACR = "https://acsearch.acr.org/list/GetAppendix?PanelName=Neurologic&TopicId=141"
PUBLIC = "https://radix.example.org"


def _call(case_id: str, hook_instance: str = "interop-1", **changes: Any) -> tuple[str, dict]:
    case = CASES[case_id]
    return f"/cds-services/{SERVICE_OF[case.hook]}", hook_request(case, hook_instance, **changes)


def _outcome(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["diagnostics"]


@pytest.fixture
async def radix(tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(_settings(tmp_path), clock=lambda: CASES["ces-retention"].as_of)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=15) as client:
        yield client


# --- 1. PAMA ratings under the Argonaut guide's URLs, with their companions -----------------


async def test_ratings_carry_the_argonaut_extensions_with_consult_id_and_criteria(radix):
    path, body = _call("mri-too-early")
    first = (await radix.post(path, json=body)).json()
    assert_valid_response(first)
    (action,) = first["systemActions"]
    urls = [e["url"] for e in action["resource"]["extension"]]
    assert urls == [
        ARGONAUT + "pama-rating",
        ARGONAUT + "pama-rating-consult-id",
        ARGONAUT + "pama-rating-auc-applied",
    ]
    extensions = pama(action["resource"])
    assert extensions["pama-rating"] == "not-appropriate"
    assert extensions["pama-rating-auc-applied"] == ACR
    consult = extensions["pama-rating-consult-id"]
    assert uuid.UUID(consult.removeprefix("urn:uuid:"))
    # The same call again correlates; the same call for another patient does not.
    again = (await radix.post(path, json=body)).json()
    assert pama(again["systemActions"][0]["resource"])["pama-rating-consult-id"] == consult
    other = (await radix.post(path, json=_as_another_patient(body))).json()
    assert pama(other["systemActions"][0]["resource"])["pama-rating-consult-id"] != consult


# --- 2. every order a suggestion proposes is rated ----------------------------------------------


@pytest.mark.parametrize(
    "case_id", ["ces-retention", "sign-ces", "mri-too-early", "s1-right-after-pt", "foot-drop"]
)
async def test_every_suggested_service_request_carries_its_own_rating(radix, case_id):
    path, body = _call(case_id)
    answer = (await radix.post(path, json=body)).json()
    assert_valid_response(answer)
    orders = suggested_orders(answer)
    assert orders
    for order in orders:
        assert set(pama(order)) == {
            "pama-rating",
            "pama-rating-consult-id",
            "pama-rating-auc-applied",
        }, order


async def test_the_stat_upgrade_is_rated_like_the_draft_it_changes(radix):
    path, body = _call("sign-ces")
    answer = (await radix.post(path, json=body)).json()
    (rating,) = answer["systemActions"]
    (stat,) = [o for o in suggested_orders(answer) if o.get("priority") == "stat" and "id" in o]
    assert stat["id"] == rating["resource"]["id"]
    assert pama(stat) == pama(rating["resource"])


# --- 3. the pre-2.0 extension.systemActions, only for clients that need it ----------------------


def _token(key: SigningKey, iss: str, path: str) -> str:
    now = int(time.time())
    claims = {
        "iss": iss,
        "aud": PUBLIC + path,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    return key.sign(claims, typ="JWT")


async def test_legacy_system_actions_only_for_a_flagged_client(tmp_path):
    sandbox, ehr = (
        SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", f"k{n}") for n in (1, 2)
    )
    trust = {
        "clients": [
            {
                "iss": "https://sandbox.example",
                "jwks": jwks_of(sandbox),
                "algorithms": ["ES384"],
                "legacy_system_actions": True,
            },
            {"iss": "https://ehr.example", "jwks": jwks_of(ehr), "algorithms": ["ES384"]},
        ]
    }
    trust_file = tmp_path / "trusted-clients.json"
    trust_file.write_text(json.dumps(trust))
    settings = _settings(
        tmp_path, auth_required=True, trusted_clients_file=trust_file, public_base_url=PUBLIC
    )
    app = create_app(settings, clock=lambda: CASES["ces-retention"].as_of)
    path, body = _call("mri-too-early")
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=15) as http:
        flagged = await http.post(
            path,
            json=body,
            headers={"Authorization": f"Bearer {_token(sandbox, 'https://sandbox.example', path)}"},
        )
        plain = await http.post(
            path,
            json=body,
            headers={"Authorization": f"Bearer {_token(ehr, 'https://ehr.example', path)}"},
        )
    assert flagged.status_code == plain.status_code == 200
    flagged_body, plain_body = flagged.json(), plain.json()
    assert_valid_response(flagged_body)
    assert flagged_body["extension"]["systemActions"] == flagged_body["systemActions"]
    assert "extension" not in plain_body
    assert plain_body["systemActions"] == flagged_body["systemActions"]  # 2.0 place: always


@pytest.mark.parametrize("setting", [True, False])
async def test_in_local_mode_a_setting_copies_system_actions(tmp_path, setting):
    app = create_app(
        _settings(tmp_path, legacy_system_actions=setting),
        clock=lambda: CASES["ces-retention"].as_of,
    )
    path, body = _call("mri-after-pt")
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=15) as http:
        answer = (await http.post(path, json=body)).json()
    assert ("extension" in answer) is setting
    if setting:
        assert answer["extension"]["systemActions"] == answer["systemActions"]
    patient_view = _call("l5-left-acute")
    assert "systemActions" not in patient_view[1]  # nothing to copy on patient-view


def test_the_shipped_sandbox_trust_file_asks_for_the_legacy_place():
    path = Path(__file__).parents[2] / "deploy" / "trusted-clients" / "cds-hooks-sandbox.json"
    (client,) = json.loads(path.read_text())["clients"]
    assert client["legacy_system_actions"] is True


# --- 4. no advice on incomplete essential data ---------------------------------------------------


def _paged(bundle: dict[str, Any], next_url: str) -> dict[str, Any]:
    return {**bundle, "link": [{"relation": "next", "url": next_url}]}


async def test_a_paged_essential_key_that_cannot_be_followed_is_a_412(radix):
    path, body = _call("ces-retention")
    body["prefetch"]["observations"] = _paged(
        body["prefetch"]["observations"], "https://ehr.example/fhir/Observation?page=2"
    )
    message = _outcome(await radix.post(path, json=body), 412)
    assert "observations" in message and "only partly read" in message


async def test_a_paged_essential_key_with_a_next_link_elsewhere_is_a_412(radix):
    path, body = _call("ces-retention", fhirServer="http://127.0.0.1:9/fhir")
    body["prefetch"]["conditions"] = _paged(
        body["prefetch"]["conditions"], "http://127.0.0.2:9/fhir/Condition?page=2"
    )
    message = _outcome(await radix.post(path, json=body), 412)
    assert "conditions" in message and "outside the FHIR server" in message


async def test_a_paged_optional_key_gives_the_card_with_the_gap(radix):
    path, body = _call("l5-left-acute")
    body["prefetch"]["procedures"] = _paged(
        body["prefetch"]["procedures"], "https://ehr.example/fhir/Procedure?page=2"
    )
    answer = await radix.post(path, json=body)
    assert answer.status_code == 200, answer.text
    (card,) = answer.json()["cards"]
    assert "- Procedures: only partly retrieved" in card["detail"]


# --- 5. no advice about the wrong patient ---------------------------------------------------------


def _as_another_patient(body: dict[str, Any]) -> dict[str, Any]:
    """The same record and call for another patient: every id of the first renamed."""
    old = body["context"]["patientId"]
    return json.loads(json.dumps(body).replace(old, old + "-twin"))


async def test_prefetch_of_another_patient_is_a_400_naming_the_mismatch(radix):
    path, body = _call("ces-retention")
    other = _as_another_patient(body)
    body["prefetch"]["conditions"] = other["prefetch"]["conditions"]  # reused by mistake
    message = _outcome(await radix.post(path, json=body), 400)
    assert "prefetch.conditions" in message and "ces-retention-pat-twin" in message


async def test_a_draft_order_for_another_patient_is_a_400(radix):
    path, body = _call("mri-too-early")
    entry = body["context"]["draftOrders"]["entry"][0]["resource"]
    entry["subject"] = {"reference": "https://ehr.example/fhir/Patient/someone-else"}
    message = _outcome(await radix.post(path, json=body), 400)
    assert "context.draftOrders" in message and "Patient/someone-else" in message


async def test_a_fhir_server_answering_another_patient_is_a_412(radix, fhir_server):
    fhir_server.reset()
    fhir_server.clear_faults()
    fhir_server.require_token(None)
    case = CASES["l5-left-acute"]
    stranger = copy.deepcopy(next(r for r in case.resources if r["resourceType"] == "Condition"))
    stranger.update(id="stranger-cond", subject={"reference": "Patient/stranger"})
    fhir_server.load([*case.resources, stranger])
    fhir_server.set_faults({"Condition": "ignore-patient"})
    try:
        path, body = _call("l5-left-acute", fhirServer=fhir_server.base_url)
        del body["prefetch"]["conditions"]
        message = _outcome(await radix.post(path, json=body), 412)
    finally:
        fhir_server.clear_faults()
        fhir_server.reset()
    assert "another patient's data" in message and "stranger" in message


# --- 6. ids that cannot collide across patients -------------------------------------------------


async def test_one_hook_instance_for_two_patients_gives_different_ids(radix):
    path, body = _call("ces-retention", "shared-hook-instance")
    first = (await radix.post(path, json=body)).json()
    second = (await radix.post(path, json=_as_another_patient(body))).json()
    assert [c["summary"] for c in first["cards"]] == [c["summary"] for c in second["cards"]]

    def ids(answer: dict[str, Any]) -> set[str]:
        return {i["uuid"] for c in answer["cards"] for i in [c, *c.get("suggestions", [])]}

    assert ids(first) and not ids(first) & ids(second)
    assert ids(first) == ids((await radix.post(path, json=body)).json())  # a retry: same ids


# --- 7. strict where silence loses data -----------------------------------------------------------


async def test_a_feedback_field_the_spec_does_not_define_is_a_400_naming_it(radix):
    path, body = _call("ces-retention")
    card = (await radix.post(path, json=body)).json()["cards"][0]
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-20T10:00:00Z",
        "overriddeReason": {
            "reason": {
                "code": "patient-preference",
                "system": "https://radix-cds.org/fhir/CodeSystem/override-reason",
            }
        },
    }
    message = _outcome(await radix.post(f"{path}/feedback", json={"feedback": [item]}), 400)
    assert "'overriddeReason'" in message


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_post_that_is_not_json_is_a_415(radix, content_type):
    path, body = _call("ces-retention")
    headers = {"Content-Type": content_type} if content_type else {}
    for target in (path, f"{path}/feedback"):
        response = await radix.post(target, content=json.dumps(body), headers=headers)
        assert "must be JSON" in _outcome(response, 415)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/fhir+json"],
)
async def test_json_media_types_are_accepted(radix, content_type):
    path, body = _call("hypertension")
    response = await radix.post(
        path, content=json.dumps(body), headers={"Content-Type": content_type}
    )
    assert response.status_code == 200, response.text


# --- 8. browsers on a hospital's private network -----------------------------------------------


async def test_a_private_network_preflight_from_an_allowed_origin_is_allowed(tmp_path):
    app = create_app(_settings(tmp_path, cors_origins="https://sandbox.cds-hooks.org"))
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
        "Access-Control-Request-Private-Network": "true",
    }
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        allowed = await http.options(
            "/cds-services/radix-lumbar-radiculopathy",
            headers={**preflight, "Origin": "https://sandbox.cds-hooks.org"},
        )
        refused = await http.options(
            "/cds-services/radix-lumbar-radiculopathy",
            headers={**preflight, "Origin": "https://evil.example"},
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-private-network"] == "true"
    assert allowed.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
    # Another origin gets no Access-Control-Allow-Origin, so the browser refuses the call.
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
