"""Tests of the ``fhir_server`` fixture against the real test FHIR server."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import fhir_server as fhir_server_module
from tests.cases import own_case
from tests.fhir_server import (
    FhirServerError,
    FhirTestServer,
    node_arguments,
    transaction_bundle,
)

pytestmark = pytest.mark.integration

# Between them these cases (tests/cases.py) hold every resource type the service reads.
VIGNETTES = (
    "l5-left-acute",
    "mri-after-pt",
    "repeat-mri",
    "specialist-review",
)
SEARCHED_TYPES = (
    "Condition",
    "Observation",
    "Procedure",
    "ServiceRequest",
    "ImagingStudy",
    "DiagnosticReport",
)
FHIR_JSON = "application/fhir+json"


def _vignette(name: str) -> dict[str, Any]:
    case = own_case(name)
    # A deep copy: tests and the server must not change the shared, cached case.
    return copy.deepcopy({"id": case.id, "context": case.context, "resources": case.resources})


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if key != "meta"}


def _patient_of(resource: dict[str, Any]) -> str | None:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference")
    return reference.removeprefix("Patient/") if reference else None


def _restore(server: FhirTestServer) -> None:
    server.clear_faults()
    server.require_token(None)
    server.reset()
    server.clear_requests()


@pytest.fixture(autouse=True)
def _pristine(fhir_server: FhirTestServer) -> Iterator[None]:
    # The server lives for the session: every test starts from, and leaves, a clean one.
    _restore(fhir_server)
    yield
    _restore(fhir_server)


@pytest.fixture
def vignettes(fhir_server: FhirTestServer) -> list[dict[str, Any]]:
    cases = [_vignette(name) for name in VIGNETTES]
    fhir_server.load([resource for case in cases for resource in case["resources"]])
    return cases


@pytest.fixture
def http(fhir_server: FhirTestServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fhir_server.base_url + "/", timeout=30.0) as client:
        yield client


def test_node_arguments_enable_websocket_before_node_22() -> None:
    assert node_arguments("v20.20.2\n") == ["--experimental-websocket"]
    assert node_arguments("v21.7.3") == ["--experimental-websocket"]
    assert node_arguments("v22.18.0") == []
    assert node_arguments("v24.2.0") == []


def test_transaction_bundle_puts_each_resource_at_its_own_id() -> None:
    resources = [{"resourceType": "Patient", "id": "a"}, {"resourceType": "Condition", "id": "b"}]
    bundle = transaction_bundle(resources)
    assert bundle["type"] == "transaction"
    assert [entry["request"] for entry in bundle["entry"]] == [
        {"method": "PUT", "url": "Patient/a"},
        {"method": "PUT", "url": "Condition/b"},
    ]
    assert [entry["resource"] for entry in bundle["entry"]] == resources


def test_base_url_is_the_fhir_base(fhir_server: FhirTestServer) -> None:
    assert fhir_server.base_url.startswith("http://127.0.0.1:")
    assert fhir_server.base_url.endswith("/fhir")


@pytest.mark.parametrize("name", VIGNETTES)
def test_read_patient_returns_what_was_loaded(
    vignettes: list[dict[str, Any]], http: httpx.Client, name: str
) -> None:
    case = next(case for case in vignettes if case["id"] == name)
    patient_id = case["context"]["patientId"]
    (loaded,) = [r for r in case["resources"] if r["resourceType"] == "Patient"]

    response = http.get(f"Patient/{patient_id}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert _without_meta(response.json()) == _without_meta(loaded)


@pytest.mark.parametrize("resource_type", SEARCHED_TYPES)
def test_search_by_patient_returns_what_was_loaded(
    vignettes: list[dict[str, Any]], http: httpx.Client, resource_type: str
) -> None:
    for case in vignettes:
        patient_id = case["context"]["patientId"]
        loaded = {
            r["id"]: _without_meta(r)
            for r in case["resources"]
            if r["resourceType"] == resource_type and _patient_of(r) == patient_id
        }

        response = http.get(resource_type, params={"patient": patient_id})

        assert response.status_code == 200
        assert response.headers["content-type"].startswith(FHIR_JSON)
        bundle = response.json()
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "searchset"
        found = {e["resource"]["id"]: _without_meta(e["resource"]) for e in bundle.get("entry", [])}
        assert found == loaded, f"{resource_type}?patient={patient_id}"


def test_vignettes_cover_every_searched_type(vignettes: list[dict[str, Any]]) -> None:
    # Guards the search test above against passing on empty results only.
    loaded_types = {r["resourceType"] for case in vignettes for r in case["resources"]}
    assert set(SEARCHED_TYPES) <= loaded_types


def test_read_of_missing_patient_is_404(
    vignettes: list[dict[str, Any]], http: httpx.Client
) -> None:
    response = http.get("Patient/no-such-patient")

    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_reset_empties_the_repository(
    fhir_server: FhirTestServer, vignettes: list[dict[str, Any]], http: httpx.Client
) -> None:
    patient_id = vignettes[0]["context"]["patientId"]
    assert http.get(f"Patient/{patient_id}").status_code == 200

    fhir_server.reset()

    assert http.get(f"Patient/{patient_id}").status_code == 404
    assert http.get("Observation", params={"patient": patient_id}).json().get("entry") is None


def test_paged_search_follows_absolute_next_links(
    fhir_server: FhirTestServer, vignettes: list[dict[str, Any]], http: httpx.Client
) -> None:
    patient_id = vignettes[0]["context"]["patientId"]
    expected = {
        r["id"]
        for r in vignettes[0]["resources"]
        if r["resourceType"] == "Observation" and _patient_of(r) == patient_id
    }
    assert len(expected) > 4, "the case needs several pages of Observations"

    bundle = http.get("Observation", params={"patient": patient_id, "_count": 2}).json()
    pages = [bundle]
    while next_url := next(
        (link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None
    ):
        assert next_url.startswith(fhir_server.base_url + "/Observation?")
        response = httpx.get(next_url, timeout=30.0)
        assert response.status_code == 200
        bundle = response.json()
        pages.append(bundle)
        assert len(pages) <= len(expected), "next links do not end"

    ids = [entry["resource"]["id"] for page in pages for entry in page.get("entry", [])]
    assert all(len(page["entry"]) <= 2 for page in pages)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    assert len(pages) == -(-len(expected) // 2)


def test_request_log_records_method_url_and_authorization(
    fhir_server: FhirTestServer, http: httpx.Client
) -> None:
    http.get("Patient/x", headers={"Authorization": "Bearer token-1"})
    http.get("Observation", params={"patient": "x", "_count": 5})
    fhir_server.set_faults({})  # control calls are not FHIR requests and must not be logged

    assert fhir_server.requests() == [
        {"method": "GET", "url": "/fhir/Patient/x", "authorization": "Bearer token-1"},
        {"method": "GET", "url": "/fhir/Observation?patient=x&_count=5", "authorization": None},
    ]

    fhir_server.clear_requests()

    assert fhir_server.requests() == []


@pytest.mark.parametrize(("mode", "status"), [("status-500", 500), ("operation-outcome-400", 400)])
def test_fault_answers_with_status_and_operation_outcome(
    fhir_server: FhirTestServer,
    vignettes: list[dict[str, Any]],
    http: httpx.Client,
    mode: str,
    status: int,
) -> None:
    patient_id = vignettes[0]["context"]["patientId"]
    fhir_server.set_faults({"Observation": mode})

    search = http.get("Observation", params={"patient": patient_id})
    read = http.get(f"Observation/{vignettes[0]['resources'][-1]['id']}")
    other = http.get("Condition", params={"patient": patient_id})

    for response in (search, read):
        assert response.status_code == status
        assert response.headers["content-type"].startswith(FHIR_JSON)
        assert response.json()["resourceType"] == "OperationOutcome"
    assert other.status_code == 200

    fhir_server.clear_faults()

    assert http.get("Observation", params={"patient": patient_id}).status_code == 200


def test_invalid_json_fault_sends_a_body_that_does_not_parse(
    fhir_server: FhirTestServer, vignettes: list[dict[str, Any]], http: httpx.Client
) -> None:
    fhir_server.set_faults({"Observation": "invalid-json"})

    response = http.get("Observation", params={"patient": vignettes[0]["context"]["patientId"]})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_hang_fault_holds_the_request_until_cleared(
    fhir_server: FhirTestServer, vignettes: list[dict[str, Any]], http: httpx.Client
) -> None:
    patient_id = vignettes[0]["context"]["patientId"]
    fhir_server.set_faults({"Observation": "hang"})
    fhir_server.clear_requests()

    with pytest.raises(httpx.ReadTimeout):
        http.get("Observation", params={"patient": patient_id}, timeout=0.5)
    assert http.get("Condition", params={"patient": patient_id}).status_code == 200

    answers: list[httpx.Response] = []
    waiting = threading.Thread(
        target=lambda: answers.append(
            httpx.get(f"{fhir_server.base_url}/Observation?patient={patient_id}", timeout=30.0)
        )
    )
    waiting.start()
    try:
        # The waiting request is logged when it arrives; clearing only then proves it was held.
        _wait_for_requests(fhir_server, count=3)
        assert answers == []
    finally:
        fhir_server.clear_faults()
        waiting.join(30.0)

    assert len(answers) == 1
    assert answers[0].status_code == 200
    assert answers[0].json()["total"] > 0


def _wait_for_requests(server: FhirTestServer, count: int) -> None:
    for _ in range(300):
        if len(server.requests()) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} requests reached the server")


def test_required_token_is_enforced(
    fhir_server: FhirTestServer, vignettes: list[dict[str, Any]], http: httpx.Client
) -> None:
    path = f"Patient/{vignettes[0]['context']['patientId']}"
    fhir_server.require_token("abc")
    fhir_server.clear_requests()

    missing = http.get(path)
    wrong = http.get(path, headers={"Authorization": "Bearer abd"})
    right = http.get(path, headers={"Authorization": "Bearer abc"})

    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["resourceType"] == "OperationOutcome"
    assert right.status_code == 200
    logged = [request["authorization"] for request in fhir_server.requests()]
    assert logged == [None, "Bearer abd", "Bearer abc"]

    fhir_server.require_token(None)

    assert http.get(path).status_code == 200


def test_unknown_fault_mode_is_refused(fhir_server: FhirTestServer) -> None:
    with pytest.raises(ValueError, match="unknown fault modes"):
        fhir_server.set_faults({"Observation": "slow"})
    response = httpx.put(
        f"{fhir_server.root_url}/__control/faults", json={"Observation": "slow"}, timeout=30.0
    )
    assert response.status_code == 400


def test_load_of_an_invalid_resource_fails_and_stores_nothing(
    fhir_server: FhirTestServer, http: httpx.Client
) -> None:
    valid = {"resourceType": "Patient", "id": "valid-1"}
    invalid = {"resourceType": "Patient", "id": "invalid-1", "gender": 5}

    with pytest.raises(FhirServerError, match="400"):
        fhir_server.load([valid, invalid])

    assert http.get("Patient/valid-1").status_code == 404
    assert http.get("Patient/invalid-1").status_code == 404


def test_missing_node_packages_fail_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fhir_server_module, "SERVER_DIR", tmp_path)

    with (
        pytest.raises(pytest.fail.Exception, match=r"npm ci --prefix tests/fhir-server"),
        fhir_server_module.running_fhir_server(),
    ):
        pass


def test_a_server_that_dies_at_start_fails_with_its_stderr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "node_modules" / "@medplum" / "fhir-router").mkdir(parents=True)
    (tmp_path / "server.cjs").write_text("console.error('shim exploded'); process.exit(3);\n")
    monkeypatch.setattr(fhir_server_module, "SERVER_DIR", tmp_path)

    with (
        pytest.raises(pytest.fail.Exception, match=r"(?s)exit code 3.*shim exploded"),
        fhir_server_module.running_fhir_server(),
    ):
        pass
