import pytest

from cds_service.cards.card import ASSESSMENT_EXTENSION
from cds_service.cards.disposition_card import disposition_card
from cds_service.cards.guideline import NICE_NG59
from cds_service.clinical.config import ClinicalConfig
from tests.cards.factory import (
    FRACTURE_FLAG,
    INFECTION_FLAG,
    MALIGNANCY_FLAG,
    UMN_FLAG,
    created,
    evaluation,
    link_urls,
    order_code,
    request,
)
from tests.cds_response_rules import assert_valid_response

CONFIG = ClinicalConfig()


def _render(ev, config=CONFIG, req=None):
    card = disposition_card(ev, req or request(), config)
    assert card is not None
    assert_valid_response({"cards": [card]})
    return card


def test_none_gives_no_card():
    assert disposition_card(evaluation("none", red_flags=()), request(), CONFIG) is None


@pytest.mark.parametrize(
    ("flag", "code"),
    [(MALIGNANCY_FLAG, "72158"), (INFECTION_FLAG, "72158"), (FRACTURE_FLAG, "72148")],
)
def test_urgent_is_a_warning_with_an_urgent_mri(flag, code):
    card = _render(evaluation("urgent-imaging", red_flags=(flag,)))
    assert card["indicator"] == "warning"
    (suggestion,) = card["suggestions"]
    mri = created(suggestion)
    assert (order_code(mri), mri["priority"]) == (code, "urgent")
    assert "within days" in card["summary"]


def test_urgent_upper_motor_neuron_signs_point_above_the_lumbar_roots():
    card = _render(evaluation("urgent-imaging", red_flags=(UMN_FLAG,)))
    assert "above the lumbar roots" in card["detail"]


def test_mri_is_info_routine_without_contrast():
    card = _render(evaluation("mri", symptom_weeks=10.0, conservative_care_weeks=8.0))
    assert card["indicator"] == "info"
    mri = created(card["suggestions"][0])
    assert (order_code(mri), mri["priority"]) == ("72148", "routine")
    assert card["summary"].startswith("Probable left L5 radiculopathy (L4-L5), 10 weeks:")
    assert "ACR variant 3" in card["detail"]


def test_mri_after_prior_lumbar_surgery_is_with_and_without_contrast():
    card = _render(evaluation("mri", prior_lumbar_surgery=True))
    assert order_code(created(card["suggestions"][0])) == "72158"
    assert "ACR variant 5" in card["detail"]


def test_specialist_review_reviews_the_existing_mri():
    ev = evaluation(
        "specialist-review",
        symptom_weeks=10.0,
        conservative_care_weeks=8.0,
        recent_lumbar_mri="ImagingStudy/mri-2026",
    )
    card = _render(ev)
    assert card["indicator"] == "info"
    referral = created(card["suggestions"][0])
    assert (order_code(referral), referral["priority"]) == ("308482002", "routine")
    assert referral["supportingInfo"] == [{"reference": "ImagingStudy/mri-2026"}]
    assert "existing MRI" in card["summary"]
    assert "last 12 months" in card["detail"]
    assert NICE_NG59.url not in link_urls(card)


def test_specialist_review_in_uk_mode_follows_nice_ng59():
    uk = ClinicalConfig(practice_mode="uk")
    card = _render(evaluation("specialist-review", symptom_weeks=10.0), config=uk)
    assert "NICE NG59" in card["summary"]
    assert "MSK interface" in card["summary"]
    assert "1.1.4" in card["detail"]
    assert NICE_NG59.url in link_urls(card)
    referral = created(card["suggestions"][0])
    assert "MSK interface" in referral["code"]["text"]


def test_physiotherapy_refers_and_safety_nets():
    card = _render(evaluation("physiotherapy"))
    assert card["indicator"] == "info"
    assert card["summary"] == (
        "Probable left L5 radiculopathy (L4-L5): physiotherapy referral, no imaging yet"
    )
    referral = created(card["suggestions"][0])
    assert (order_code(referral), referral["priority"]) == ("308447003", "routine")
    assert "stay active" in card["detail"]
    assert "Safety-netting" in card["detail"]
    assert "both legs" in card["detail"]
    assert NICE_NG59.url in link_urls(card)


def test_physiotherapy_with_unknown_onset_asks_for_it():
    card = _render(evaluation("physiotherapy", symptom_weeks=None))
    assert "onset not documented" in card["detail"]
    assert "please record when symptoms began" in card["detail"]


def test_physiotherapy_after_six_weeks_without_care_says_so():
    card = _render(evaluation("physiotherapy", symptom_weeks=9.0))
    assert "9 weeks, no conservative care documented" in card["detail"]


def test_thresholds_in_the_wording_follow_the_configuration():
    card = _render(evaluation("physiotherapy"), config=ClinicalConfig(persistent_weeks=8))
    assert "before 8 weeks" in card["detail"]


@pytest.mark.parametrize(
    "disposition",
    ["emergency-referral", "urgent-imaging", "mri", "specialist-review", "physiotherapy"],
)
def test_every_card_carries_the_assessment(disposition):
    ev = evaluation(disposition)
    card = _render(ev)
    assert card["extension"][ASSESSMENT_EXTENSION] == ev.assessment.to_extension()
    assert card["extension"][ASSESSMENT_EXTENSION]["disposition"] == disposition


def test_encounter_and_requester_are_left_out_when_unknown():
    req = request(userId="Patient/pat-1")
    del req.context["encounterId"]
    referral = created(_render(evaluation("physiotherapy"), req=req)["suggestions"][0])
    assert "encounter" not in referral
    assert "requester" not in referral
