import json

import pytest

from cds_service.cards import render
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Evaluation
from tests.cards.factory import (
    MALIGNANCY_FLAG,
    assessment,
    draft_mri,
    draft_physiotherapy,
    evaluation,
    pama,
    rating,
    request,
)
from tests.cds_response_rules import assert_valid_response

CONFIG = ClinicalConfig()
DISPOSITIONS = ["emergency-referral", "urgent-imaging", "mri", "specialist-review", "physiotherapy"]
INDICATORS = {
    "emergency-referral": "critical",
    "urgent-imaging": "warning",
    "mri": "info",
    "specialist-review": "info",
    "physiotherapy": "info",
}


def _uuids(body):
    return [item["uuid"] for card in body["cards"] for item in [card, *card.get("suggestions", [])]]


@pytest.mark.parametrize("disposition", DISPOSITIONS)
def test_patient_view_answers_one_card_for_the_disposition(disposition):
    body = render(evaluation(disposition), request(), CONFIG)
    assert_valid_response(body)
    assert set(body) == {"cards"}
    (card,) = body["cards"]
    assert card["indicator"] == INDICATORS[disposition]
    assert card["extension"]["org.radix-cds.assessment"]["disposition"] == disposition


def test_patient_view_with_nothing_to_say_is_an_empty_card_list():
    body = render(evaluation("none", red_flags=(), radicular=False), request(), CONFIG)
    assert body == {"cards": []}
    assert_valid_response(body)


def test_ratings_alone_answer_when_no_card_is_due():
    draft = draft_mri()
    ev = Evaluation(assessment("mri"), order_ratings=(rating(draft, "appropriate"),))
    body = render(ev, request("order-select", drafts=(draft,)), CONFIG)
    assert_valid_response(body)
    assert body["cards"] == []
    (action,) = body["systemActions"]
    assert action["type"] == "update"
    assert action["resource"]["id"] == "draft-mri"
    assert pama(action["resource"])["pama-rating"] == "appropriate"


def test_every_rating_becomes_a_system_action_in_order():
    drafts = (draft_mri("m1"), draft_mri("m2"))
    ev = Evaluation(
        assessment("physiotherapy"),
        order_ratings=(
            rating(drafts[0], "not-appropriate"),
            rating(drafts[1], "no-criteria-apply"),
        ),
    )
    body = render(ev, request("order-sign", drafts=drafts), CONFIG)
    assert_valid_response(body)
    assert [a["resource"]["id"] for a in body["systemActions"]] == ["m1", "m2"]
    codes = [pama(a["resource"])["pama-rating"] for a in body["systemActions"]]
    assert codes == ["not-appropriate", "no-criteria-apply"]
    assert [c["indicator"] for c in body["cards"]] == ["warning"]


def test_order_hook_without_ratings_or_cards_omits_system_actions():
    body = render(
        evaluation("physiotherapy"), request("order-sign", drafts=(draft_physiotherapy(),)), CONFIG
    )
    assert body == {"cards": []}


def test_order_hook_critical_card_is_the_patient_view_card_plus_the_upgrade():
    draft = draft_mri()
    ev = Evaluation(
        assessment("emergency-referral"),
        order_ratings=(
            rating(draft, "appropriate", rule="order-rating/red-flag", upgrade_to_stat=True),
        ),
    )
    order = render(ev, request("order-select", drafts=(draft,)), CONFIG)
    view = render(evaluation("emergency-referral"), request(), CONFIG)
    assert_valid_response(order)
    (critical,) = order["cards"]
    (same,) = view["cards"]
    assert critical["summary"] == same["summary"]
    assert critical["suggestions"][0] == same["suggestions"][0]
    assert critical["suggestions"][1]["actions"][0]["type"] == "update"


def test_same_hook_instance_gives_the_same_ids_and_another_gives_new_ones():
    ev = evaluation("emergency-referral")
    first = render(ev, request(hook_instance="hook-a"), CONFIG)
    again = render(ev, request(hook_instance="hook-a"), CONFIG)
    other = render(ev, request(hook_instance="hook-b"), CONFIG)
    assert _uuids(first) == _uuids(again)
    assert len(set(_uuids(first))) == 3
    assert not set(_uuids(first)) & set(_uuids(other))


def test_render_is_pure():
    draft = draft_mri()
    before = json.dumps(draft, sort_keys=True)
    ev = Evaluation(assessment("physiotherapy"), order_ratings=(rating(draft),))
    req = request("order-select", drafts=(draft,))
    assert render(ev, req, CONFIG) == render(ev, req, CONFIG)
    assert json.dumps(draft, sort_keys=True) == before


@pytest.mark.parametrize("disposition", DISPOSITIONS)
def test_sparse_assessment_still_gives_clean_json(disposition):
    """No localisation, no dates, nothing documented: every optional field is omitted."""
    a = assessment(
        disposition,
        localisation=None,
        symptom_weeks=None,
        differentials=(),
        rules=(),
        radicular=False,
        back_pain=False,
    )
    a = type(a)(**{**a.__dict__, "ces_screen": type(a.ces_screen)((), (), ())})
    req = request(userId="Patient/pat-1")
    del req.context["encounterId"]
    body = render(Evaluation(a), req, CONFIG)
    assert_valid_response(body)
    assert "null" not in json.dumps(body)


def test_extreme_inputs_keep_summaries_short_and_json_clean():
    flags = tuple(
        type(MALIGNANCY_FLAG)(f"very-long-made-up-flag-{i}-" + "x" * 60, "urgent", (), ())
        for i in range(6)
    )
    a = assessment("urgent-imaging", red_flags=flags, weak_flags=("age-over-50",) * 3)
    draft = draft_mri()
    draft["code"]["text"] = "T " * 300
    ev = Evaluation(a, order_ratings=(rating(draft, reason="R" * 2000),))
    body = render(ev, request("order-select", drafts=(draft,)), CONFIG)
    assert_valid_response(body)
    assert all(len(c["summary"]) < 140 for c in body["cards"])
    patient = render(Evaluation(a), request(), CONFIG)
    assert_valid_response(patient)


def test_uk_mode_specialist_review():
    body = render(evaluation("specialist-review"), request(), ClinicalConfig(practice_mode="uk"))
    assert_valid_response(body)
    assert "NICE NG59" in body["cards"][0]["summary"]
