"""The shipped examples: valid FHIR R4 requests of one patient each, with the answers they promise.

The answers are checked as of the README's date and as of now: the examples were chosen so
that what Radix concludes does not change as they age.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_service.protocol.catalogue import load_catalogue
from cds_service.protocol.hook_request import bundle_resources
from tests.cds_response_rules import assert_valid_response
from tests.examples import EXAMPLES, FOLDER, INDEX, README_NOW, engine_answer
from tests.readme_examples import rating_of

CATALOGUE = load_catalogue()
ASSESSMENT = "org.radix-cds.assessment"


def _resources(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every FHIR resource of the request: prefetch (Bundles unpacked) and draft orders."""
    found: list[dict[str, Any]] = []
    for value in request["prefetch"].values():
        if value is None:
            continue
        found.append(value)
        if value["resourceType"] == "Bundle":
            found.extend(bundle_resources(value))
    found.append(
        request["context"].get("draftOrders") or {"resourceType": "Bundle", "type": "collection"}
    )
    found.extend(bundle_resources(request["context"].get("draftOrders")))
    return found


def test_the_index_lists_every_example_file_once():
    listed = [item["file"] for item in INDEX]
    assert sorted(listed) == sorted(p.name for p in FOLDER.glob("*.json") if p.name != "index.json")
    assert len(set(listed)) == len(listed) == 4
    assert {EXAMPLES[i]["hook"] for i in EXAMPLES} == {"patient-view", "order-select", "order-sign"}


@pytest.mark.parametrize("example_id", EXAMPLES)
def test_every_resource_is_valid_fhir_r4(example_id: str):
    for resource in _resources(EXAMPLES[example_id]):
        model = get_fhir_model_class(resource["resourceType"])
        model.model_validate(resource)  # raises on anything R4(B) does not allow


@pytest.mark.parametrize("example_id", EXAMPLES)
def test_the_request_is_valid_with_the_full_prefetch_of_its_service(example_id: str):
    request = EXAMPLES[example_id]
    validator = CATALOGUE.request_validators[request["hook"]]
    assert list(validator.iter_errors(request)) == []
    service = next(s for s in CATALOGUE.services.values() if s.hook == request["hook"])
    assert set(request["prefetch"]) == set(service.prefetch)
    for key, template in service.prefetch.items():
        value = request["prefetch"][key]
        kind = template.split("/")[0].split("?")[0]
        if template.startswith(f"{kind}/"):
            assert value["resourceType"] == kind
        elif value is not None:  # a search: a searchset Bundle of that type only
            assert (value["resourceType"], value["type"]) == ("Bundle", "searchset")
            assert {r["resourceType"] for r in bundle_resources(value)} <= {kind}
            assert value["total"] == len(bundle_resources(value))


@pytest.mark.parametrize("example_id", EXAMPLES)
def test_every_patient_reference_names_the_context_patient(example_id: str):
    request = EXAMPLES[example_id]
    patient = request["context"]["patientId"]
    assert request["prefetch"]["patient"]["id"] == patient
    subjects = [r["subject"]["reference"] for r in _resources(request) if "subject" in r]
    assert subjects and set(subjects) == {f"Patient/{patient}"}
    ids = [f"{r['resourceType']}/{r['id']}" for r in _resources(request) if "id" in r]
    assert len(ids) == len(set(ids)), "resource ids are unique within an example"
    selections = request["context"].get("selections", [])
    drafts = {
        f"ServiceRequest/{r['id']}" for r in bundle_resources(request["context"].get("draftOrders"))
    }
    assert set(selections) <= drafts


@pytest.mark.parametrize("example_id", EXAMPLES)
def test_no_patient_turns_70_for_decades(example_id: str):
    born = date.fromisoformat(EXAMPLES[example_id]["prefetch"]["patient"]["birthDate"])
    assert born.replace(year=born.year + 70) > README_NOW.date() + timedelta(days=365 * 20)


def _cards(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return answer["response"].get("cards", [])


def _ratings(answer: dict[str, Any]) -> dict[str, str | None]:
    return {
        f"ServiceRequest/{a['resource']['id']}": rating_of(a["resource"])
        for a in answer["response"].get("systemActions", [])
    }


NOW_CASES = {
    "as of the README's date": lambda: README_NOW,
    "as of now": lambda: datetime.now(README_NOW.tzinfo),
    "in ten years": lambda: datetime.now(README_NOW.tzinfo) + timedelta(days=3652),
}


@pytest.fixture(params=list(NOW_CASES), ids=list(NOW_CASES))
def now(request: pytest.FixtureRequest):
    return NOW_CASES[request.param]


async def test_l5_example_is_a_physiotherapy_card_for_left_l5(now):
    answer = await engine_answer(EXAMPLES["patient-view-l5-left"], now)
    assert_valid_response(answer["response"])
    [card] = _cards(answer)
    assessment = card["extension"][ASSESSMENT]
    assert (card["indicator"], assessment["disposition"]) == ("info", "physiotherapy")
    assert (assessment["localisation"]["root"], assessment["localisation"]["side"]) == (
        "L5",
        "left",
    )
    assert "redFlags" not in assessment
    [suggestion] = card["suggestions"]
    [action] = suggestion["actions"]
    assert action["type"] == "create"
    assert action["resource"]["code"]["coding"][0]["code"] == "308447003"  # physiotherapy referral


async def test_cauda_equina_example_is_critical_and_stands_on_its_exam(now):
    answer = await engine_answer(EXAMPLES["patient-view-cauda-equina"], now)
    assert_valid_response(answer["response"])
    [card] = _cards(answer)
    assessment = card["extension"][ASSESSMENT]
    assert (card["indicator"], assessment["disposition"]) == ("critical", "emergency-referral")
    [flag] = assessment["redFlags"]
    assert flag["id"] == "cauda-equina"
    # The saddle sensation and the post-void residual are exam findings: they do not age.
    assert {"Observation/ex-ces-saddle", "Observation/ex-ces-pvr"} <= set(flag["evidence"])
    assert all(
        a["resource"]["priority"] == "stat" for s in card["suggestions"] for a in s["actions"]
    )


async def test_cauda_equina_example_still_critical_once_the_retention_is_old():
    later = README_NOW + timedelta(days=45)  # the retention Condition is past the 30 days
    answer = await engine_answer(EXAMPLES["patient-view-cauda-equina"], lambda: later)
    [card] = _cards(answer)
    [flag] = card["extension"][ASSESSMENT]["redFlags"]
    assert card["indicator"] == "critical"
    assert "cauda-equina/urinary-retention" not in flag["rules"]


async def test_order_select_example_swaps_the_mri_for_physiotherapy(now):
    request = EXAMPLES["order-select-mri-acute-sciatica"]
    answer = await engine_answer(request, now)
    assert_valid_response(answer["response"])
    assert _ratings(answer) == {"ServiceRequest/ex-os-mri": "not-appropriate"}
    [card] = _cards(answer)
    assert card["indicator"] == "warning"
    [suggestion] = card["suggestions"]
    kinds = {
        (a["type"], a.get("resourceId") or a["resource"]["code"]["coding"][0]["code"])
        for a in suggestion["actions"]
    }
    assert kinds == {("delete", "ServiceRequest/ex-os-mri"), ("create", "308447003")}


async def test_order_sign_example_is_appropriate_without_a_card(now):
    answer = await engine_answer(EXAMPLES["order-sign-mri-after-physiotherapy"], now)
    assert_valid_response(answer["response"])
    assert _ratings(answer) == {"ServiceRequest/ex-sign-mri": "appropriate"}
    assert _cards(answer) == []
    assert answer["assessment"]["disposition"] == "mri"
    assert answer["assessment"]["conservativeCareWeeks"] > 6
