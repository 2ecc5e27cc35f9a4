from dataclasses import replace

import pytest

from cds_service.cards.emergency_card import emergency_card
from cds_service.cards.guideline import GIRFT_CES
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Evaluation, RedFlag
from tests.cards.factory import (
    CES_FLAG,
    INFECTION_FLAG,
    MALIGNANCY_FLAG,
    SEVERE_FLAG,
    assessment,
    created,
    draft_mri,
    evaluation,
    link_urls,
    order_code,
    rating,
    request,
)
from tests.cds_response_rules import assert_valid_response

CONFIG = ClinicalConfig()
CORD_FLAG = RedFlag("cord-compression", "emergency", ("cord-compression/signs",), ())


def _card(ev, config=CONFIG, req=None):
    card = emergency_card(ev, req or request(), config)
    assert_valid_response({"cards": [card]})
    return card


def _with_draft(draft, value="appropriate", **changes):
    return Evaluation(
        assessment("emergency-referral", **changes),
        order_ratings=(rating(draft, value, rule="order-rating/red-flag", upgrade_to_stat=True),),
    )


def test_emergency_is_critical_with_stat_referral_and_stat_mri():
    card = _card(evaluation("emergency-referral"))
    assert card["indicator"] == "critical"
    assert card["selectionBehavior"] == "any"
    referral, mri = (created(s) for s in card["suggestions"])
    assert all(s["isRecommended"] for s in card["suggestions"])
    assert (order_code(referral), referral["priority"]) == ("308482002", "stat")
    assert (order_code(mri), mri["priority"]) == ("72148", "stat")
    assert referral["reasonReference"] == [{"reference": "Condition/incontinence"}]
    assert "within 4 h" in card["summary"]
    assert "within 4 hours" in card["detail"]
    assert GIRFT_CES.url in link_urls(card)
    assert card["overrideReasons"]


def test_the_cauda_equina_mri_target_comes_from_the_configuration():
    card = _card(evaluation("emergency-referral"), replace(CONFIG, ces_mri_hours=2))
    assert "within 2 h" in card["summary"]
    assert "within 2 hours" in card["detail"]
    assert "4 h" not in card["summary"]


def test_emergency_without_cauda_equina_has_no_four_hour_target():
    card = _card(evaluation("emergency-referral", red_flags=(SEVERE_FLAG,)))
    assert card["summary"].startswith("Severe motor deficit:")
    assert "4 h" not in card["summary"]
    assert "on-call spinal team" in card["detail"]
    assert GIRFT_CES.url not in link_urls(card)


@pytest.mark.parametrize("flag", [MALIGNANCY_FLAG, INFECTION_FLAG])
def test_emergency_mri_with_contrast_when_malignancy_or_infection_also_stands(flag):
    card = _card(evaluation("emergency-referral", red_flags=(CES_FLAG, flag)))
    assert order_code(created(card["suggestions"][1])) == "72158"
    assert "MRI without and with contrast (ACR variant 7)" in card["detail"]


@pytest.mark.parametrize(
    ("flags", "said", "unsaid"),
    [
        ((CES_FLAG,), "residual under 200 mL does not exclude it", "agree the level to image"),
        ((SEVERE_FLAG,), "discuss with the on-call spinal team today", "bladder scan"),
        ((CORD_FLAG,), "agree the level to image with the spinal team", "weakness"),
    ],
)
def test_each_kind_of_emergency_flag_adds_its_own_advice(flags, said, unsaid):
    detail = _card(evaluation("emergency-referral", red_flags=flags))["detail"]
    assert said in detail
    assert unsaid not in detail


def test_the_lead_says_the_plan_then_the_flags_then_the_draft_then_the_contrast():
    ev = _with_draft(draft_mri(), red_flags=(CES_FLAG, MALIGNANCY_FLAG))
    detail = _card(ev, req=request("order-select", drafts=(draft_mri(),)))["detail"]
    order = [
        "**Same-day review by the on-call spinal surgical team",
        "Suspected cauda equina syndrome: refer to hospital now",
        "The MRI being ordered (MRI lumbar spine without contrast) is not stat",
        "With malignancy or infection risk",
        "**Red flags**",
    ]
    assert [detail.index(text) for text in order] == sorted(detail.index(t) for t in order)


def test_a_draft_mri_rated_not_appropriate_is_a_repeat_to_agree_on_and_made_stat():
    draft = draft_mri()
    ev = _with_draft(draft, "not-appropriate")
    card = _card(ev, req=request("order-select", drafts=(draft,)))
    assert (
        "The MRI being ordered (MRI lumbar spine without contrast) repeats one done within the"
        " last 12 months" in card["detail"]
    )
    assert "is not stat" not in card["detail"]
    _referral, upgrade = card["suggestions"]
    (action,) = upgrade["actions"]
    assert (action["type"], action["resource"]["priority"]) == ("update", "stat")
    assert action["description"] == "Change ServiceRequest/draft-mri to priority stat"


def test_the_name_of_the_draft_is_record_text_and_escaped():
    draft = draft_mri()
    draft["code"] = {**draft["code"], "text": "MRI *now* <b>"}
    card = _card(_with_draft(draft), req=request("order-select", drafts=(draft,)))
    assert r"(MRI \*now\* \<b\>) is not stat" in card["detail"]
