from dataclasses import replace

import pytest

from cds_service.cards.common import (
    conservative_reason,
    flag_reason,
    mri_code,
    physiotherapy_referral,
    safety_netting,
    specialist_referral,
)
from cds_service.clinical.config import ClinicalConfig
from tests.cards.factory import (
    CES_FLAG,
    FRACTURE_FLAG,
    INFECTION_FLAG,
    MALIGNANCY_FLAG,
    assessment,
    request,
)

CONFIG = ClinicalConfig()


@pytest.mark.parametrize(
    ("symptom_weeks", "care_weeks", "reason"),
    [
        (None, None, "onset not documented, counted as under 6 weeks"),
        (2.0, None, "2 weeks of symptoms"),
        (9.0, None, "9 weeks, no conservative care documented"),
        (9.0, 1.0, "9 weeks of symptoms"),
    ],
)
def test_why_conservative_care_comes_first(symptom_weeks, care_weeks, reason):
    a = assessment(symptom_weeks=symptom_weeks, conservative_care_weeks=care_weeks)
    assert conservative_reason(a, CONFIG) == reason


def test_the_review_advice_names_the_configured_weeks():
    netting, review = safety_netting(replace(CONFIG, persistent_weeks=8.5))
    assert netting.startswith("**Safety-netting**")
    assert review.endswith("after 8.5 weeks of conservative care.")


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        ((CES_FLAG,), "72148"),
        ((FRACTURE_FLAG,), "72148"),
        ((MALIGNANCY_FLAG,), "72158"),
        ((CES_FLAG, INFECTION_FLAG), "72158"),
    ],
)
def test_contrast_for_malignancy_or_infection_only(flags, code):
    assert mri_code(assessment(red_flags=flags)).code == code


def test_the_reason_of_a_red_flag_order_names_the_flags():
    assert flag_reason((CES_FLAG, MALIGNANCY_FLAG)) == [
        {"text": "Suspected cauda equina syndrome and Malignancy, current or past"}
    ]


@pytest.mark.parametrize(
    ("mode", "recent_mri", "text"),
    [
        ("us", None, "Routine referral to spinal surgery"),
        (
            "us",
            "ImagingStudy/mri-2026",
            "Routine referral to spinal surgery: review of existing lumbar MRI",
        ),
        (
            "uk",
            "ImagingStudy/mri-2026",
            "Routine referral to spinal surgery / MSK interface service",
        ),
    ],
)
def test_the_specialist_referral_says_what_it_is_for(mode, recent_mri, text):
    a = assessment("specialist-review", recent_lumbar_mri=recent_mri)
    referral = specialist_referral(a, request(), replace(CONFIG, practice_mode=mode))
    assert referral["code"]["text"] == text
    assert referral["priority"] == "routine"
    assert referral.get("supportingInfo") == ([{"reference": recent_mri}] if recent_mri else None)


def test_a_referral_gives_the_syndrome_as_its_reason_unless_told_otherwise():
    a = assessment()
    default = physiotherapy_referral(a, request(), CONFIG)
    assert default["reasonCode"] == [{"text": "Probable left L5 radiculopathy (L4-L5)"}]
    assert default["reasonReference"] == [
        {"reference": "Observation/ehl"},
        {"reference": "Observation/slr"},
    ]
    given = physiotherapy_referral(a, request(), CONFIG, [{"text": "Sciatica"}])
    assert given["reasonCode"] == [{"text": "Sciatica"}]
