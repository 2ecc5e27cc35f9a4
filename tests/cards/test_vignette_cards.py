"""Every clinical case (own and shared) through the engine and the cards, read the way an
integration team reads answers (tests/vignette_expectations.py)."""

from __future__ import annotations

import uuid

import pytest

from cds_service.cards import render
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.knowledge import Knowledge, load_knowledge
from cds_service.protocol.hook_request import HookRequest
from tests.cds_response_rules import assert_valid_response
from tests.vignette_expectations import assessments, check, ratings
from tests.vignettes import Vignette, every_case, note_reading

VIGNETTES = every_case()
CONFIG = ClinicalConfig()


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge()


def _answer(vignette: Vignette, knowledge: Knowledge) -> dict:
    request = HookRequest(
        service_id="radix",
        hook=vignette.hook,
        hook_instance=str(uuid.uuid5(uuid.NAMESPACE_URL, vignette.id)),
        context=vignette.context,
        prefetch={},
    )
    notes = note_reading(vignette, knowledge)
    evaluation = evaluate(
        vignette.resources,
        request.orders_in_scope(),
        hook=vignette.hook,
        now=vignette.as_of,  # the clock frozen at asOf
        knowledge=knowledge,
        config=CONFIG,
        note_findings=notes.findings,
        note_remarks=notes.remarks,
    )
    return render(evaluation, request, CONFIG)


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.id)
def test_vignette_answer_meets_its_expectations(vignette: Vignette, knowledge: Knowledge):
    body = _answer(vignette, knowledge)
    assert_valid_response(body)
    assert check(vignette, body) == []


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.id)
def test_vignette_cards_all_carry_the_same_assessment(vignette: Vignette, knowledge: Knowledge):
    body = _answer(vignette, knowledge)
    found = assessments(body)
    assert len(found) == len(body["cards"])
    assert all(a == found[0] for a in found)
    if vignette.hook == "patient-view":
        assert bool(body["cards"]) == (vignette.expected["disposition"] != "none")


@pytest.mark.parametrize(
    "vignette",
    [v for v in VIGNETTES if v.hook != "patient-view"],
    ids=lambda v: v.id,
)
def test_vignette_ratings_update_the_drafts_exactly_as_sent(vignette, knowledge):
    body = _answer(vignette, knowledge)
    drafts = {f"ServiceRequest/{d.get('id')}": d for d in vignette.draft_orders}
    for action in body.get("systemActions", []):
        resource = action["resource"]
        sent = drafts[f"ServiceRequest/{resource['id']}"]
        assert {k: v for k, v in resource.items() if k != "extension"} == {
            k: v for k, v in sent.items() if k != "extension"
        }
    assert set(ratings(body)) <= set(drafts)
