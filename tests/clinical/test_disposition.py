from __future__ import annotations

from dataclasses import replace
from typing import Any

from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.course import Course
from cds_service.clinical.disposition import dispose
from cds_service.clinical.evaluation import RedFlag
from cds_service.clinical.exam import Exam
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r

URGENT = RedFlag("malignancy", "urgent", ("malignancy/current",), ())
EMERGENCY = RedFlag("cauda-equina", "emergency", ("cauda-equina/condition",), ())


def _course(record: list[dict[str, Any]], knowledge: Knowledge) -> Course:
    chart = Chart.read(record, knowledge, r.NOW)
    return Course.read(chart, Exam(chart, ClinicalConfig()), 12)


def test_first_row_wins(knowledge: Knowledge) -> None:
    course = _course([r.sciatica(days=70), r.procedure("410160006", days=50)], knowledge)
    config = ClinicalConfig()
    assert dispose((URGENT, EMERGENCY), course, config)[0] == "emergency-referral"
    assert dispose((URGENT,), course, config)[0] == "urgent-imaging"
    assert dispose((), course, config) == ("mri", "disposition/mri-persistent-after-care")
    uk = replace(config, practice_mode="uk")
    assert dispose((), course, uk) == ("specialist-review", "disposition/specialist-review-uk")


def test_recent_mri_means_specialist_review(knowledge: Knowledge) -> None:
    course = _course(
        [
            r.sciatica(days=70),
            r.procedure("410160006", days=50),
            r.procedure("394451000119106", days=90),
        ],
        knowledge,
    )
    assert dispose((), course, ClinicalConfig())[0] == "specialist-review"


def test_prior_surgery_means_mri_at_any_duration(knowledge: Knowledge) -> None:
    course = _course([r.sciatica(days=7), r.condition("M96.1", clinical="resolved")], knowledge)
    assert dispose((), course, ClinicalConfig()) == ("mri", "disposition/mri-prior-surgery")


def test_physiotherapy_rows(knowledge: Knowledge) -> None:
    config = ClinicalConfig()
    short = _course([r.sciatica(days=20)], knowledge)
    unknown = _course([r.condition("M54.16", days=None)], knowledge)
    no_care = _course([r.sciatica(days=70)], knowledge)
    assert dispose((), short, config)[1] == "disposition/physiotherapy-under-6-weeks"
    assert dispose((), unknown, config)[1] == "disposition/physiotherapy-duration-unknown"
    assert dispose((), no_care, config)[1] == "disposition/physiotherapy-no-conservative-care"


def test_back_pain_without_radicular_syndrome_is_none(knowledge: Knowledge) -> None:
    course = _course([r.condition("M54.50", days=70), r.procedure("410160006")], knowledge)
    assert dispose((), course, ClinicalConfig())[0] == "none"


def test_persistent_from_exactly_six_weeks(knowledge: Knowledge) -> None:
    config = ClinicalConfig()
    care = r.procedure("410160006", days=30)
    at_six = _course([r.sciatica(days=42), care], knowledge)
    just_under = _course([r.sciatica(days=41.9), care], knowledge)
    assert dispose((), at_six, config) == ("mri", "disposition/mri-persistent-after-care")
    assert dispose((), just_under, config) == (
        "physiotherapy",
        "disposition/physiotherapy-under-6-weeks",
    )
    # The setting moves the line.
    assert dispose((), at_six, replace(config, persistent_weeks=7))[0] == "physiotherapy"


def test_prior_surgery_rows(knowledge: Knowledge) -> None:
    config = ClinicalConfig()
    surgery = r.condition("M96.1", clinical="resolved")
    with_mri = _course(
        [r.sciatica(days=7), surgery, r.procedure("72148", r.CPT, days=30)], knowledge
    )
    assert dispose((), with_mri, config) == (
        "specialist-review",
        "disposition/specialist-review-recent-mri",
    )
    alone = _course([r.sciatica(days=7), surgery], knowledge)
    uk = replace(config, practice_mode="uk")
    assert dispose((), alone, uk) == ("specialist-review", "disposition/specialist-review-uk")
    # Without a radicular syndrome, surgery gives no disposition.
    assert dispose((), _course([r.low_back_pain(), surgery], knowledge), config) == (
        "none",
        "disposition/none",
    )


def test_uk_mode_changes_only_the_specialist_rows(knowledge: Knowledge) -> None:
    uk = replace(ClinicalConfig(), practice_mode="uk")
    care = r.procedure("410160006", days=50)
    recent_mri = _course(
        [r.sciatica(days=70), care, r.procedure("72148", r.CPT, days=30)], knowledge
    )
    assert dispose((), recent_mri, uk)[1] == "disposition/specialist-review-recent-mri"
    assert dispose((), _course([r.sciatica(days=20)], knowledge), uk)[1] == (
        "disposition/physiotherapy-under-6-weeks"
    )
    assert dispose((EMERGENCY,), recent_mri, uk)[1] == "disposition/emergency-red-flag"
    assert dispose((URGENT,), recent_mri, uk)[1] == "disposition/urgent-red-flag"
    # Recent MRI without persistence or surgery is no reason for review.
    short_with_mri = _course([r.sciatica(days=20), r.procedure("72148", r.CPT, days=30)], knowledge)
    assert dispose((), short_with_mri, ClinicalConfig())[1] == (
        "disposition/physiotherapy-under-6-weeks"
    )
    no_care = _course([r.sciatica(days=70), r.procedure("72148", r.CPT, days=30)], knowledge)
    assert dispose((), no_care, ClinicalConfig())[1] == (
        "disposition/physiotherapy-no-conservative-care"
    )


def test_prior_surgery_with_care_not_yet_persistent(knowledge: Knowledge) -> None:
    course = _course(
        [r.sciatica(days=14), r.procedure("410160006", days=7), r.condition("M96.1")], knowledge
    )
    assert dispose((), course, ClinicalConfig()) == ("mri", "disposition/mri-prior-surgery")
