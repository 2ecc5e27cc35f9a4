from __future__ import annotations

from typing import Any

import pytest

from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.course import Course, months_before
from cds_service.clinical.exam import Exam
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r


def _course(record: list[dict[str, Any]], knowledge: Knowledge) -> Course:
    chart = Chart.read(record, knowledge, r.NOW)
    return Course.read(chart, Exam(chart, ClinicalConfig()), 12)


def test_duration_from_the_earliest_of_onset_recorded_and_care(knowledge: Knowledge) -> None:
    course = _course(
        [
            r.condition("M54.50", days=20),
            r.condition("M54.16", days=None, recorded=35),
            r.procedure("410160006", days=49),
        ],
        knowledge,
    )
    assert course.symptom_weeks == pytest.approx(7.0)
    assert course.conservative_care_weeks == pytest.approx(7.0)


def test_unknown_duration(knowledge: Knowledge) -> None:
    course = _course([r.condition("M54.16", days=None)], knowledge)
    assert course.radicular and course.symptom_weeks is None


def test_radicular_from_the_examination(knowledge: Knowledge) -> None:
    sign = r.exam("straight-leg-raise", True, side="left")
    assert not _course([sign], knowledge).radicular
    deficit = r.exam("sensation-dorsum-foot", "reduced", side="left")
    assert _course([sign, deficit], knowledge).radicular
    other_side = r.exam("sensation-dorsum-foot", "reduced", side="right")
    assert not _course([sign, other_side], knowledge).radicular


def test_conservative_care_statuses(knowledge: Knowledge) -> None:
    assert not _course(
        [r.service_request("308447003", status="draft")], knowledge
    ).conservative_care
    assert _course([r.service_request("308447003", status="active")], knowledge).conservative_care
    assert not _course([r.procedure("410160006", status="not-done")], knowledge).conservative_care


def test_recent_mri_window(knowledge: Knowledge) -> None:
    recent = r.procedure("394451000119106", days=300)
    old = r.procedure("394451000119106", days=400)
    assert _course([recent], knowledge).recent_mri is not None
    assert _course([old], knowledge).recent_mri is None


def test_months_before_clamps_to_month_end() -> None:
    from datetime import UTC, datetime

    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)


def _refs(*resources: dict[str, Any]) -> list[str]:
    return [f"{x['resourceType']}/{x['id']}" for x in resources]


def test_radicular_exam_matching_of_sides(knowledge: Knowledge) -> None:
    # Rules §1.1: an unsided test matches a deficit on either side; a sided test with no deficit
    # on its side matches an unsided deficit.
    unsided_sign = r.exam("straight-leg-raise", True)
    left_deficit = r.exam("reflex-achilles", 0, side="left")
    course = _course([unsided_sign, left_deficit], knowledge)
    assert course.radicular_rules == ("radicular/exam",)
    assert [e.reference for e in course.radicular_evidence] == _refs(unsided_sign, left_deficit)
    left_sign = r.exam("femoral-nerve-stretch", True, side="left")
    unsided_deficit = r.exam("sensation-medial-knee", "reduced")
    course = _course([left_sign, unsided_deficit], knowledge)
    assert [e.reference for e in course.radicular_evidence] == _refs(left_sign, unsided_deficit)
    right_deficit = r.exam("strength-knee-extension", 4, side="right")
    assert not _course([left_sign, right_deficit], knowledge).radicular
    # A same-side deficit is preferred to an unsided one, and a normal test matches nothing.
    course = _course([left_sign, unsided_deficit, left_deficit], knowledge)
    assert [e.reference for e in course.radicular_evidence] == _refs(left_sign, left_deficit)
    negative = r.exam("straight-leg-raise", False, side="left")
    assert not _course([negative, left_deficit], knowledge).radicular
    # Every deficit of the matching side is evidence, motor, reflex and sensory alike.
    foot = r.exam("sensation-lateral-foot", "absent", side="left")
    weak = r.exam("strength-ankle-plantarflexion", 4, side="left")
    crossed = r.exam("crossed-straight-leg-raise", True, side="left")
    course = _course([crossed, foot, weak, left_deficit], knowledge)
    assert [e.reference for e in course.radicular_evidence] == _refs(
        crossed, weak, left_deficit, foot
    )


def test_radicular_rules_evidence_and_back_pain(knowledge: Knowledge) -> None:
    sciatica = r.sciatica()
    stenosis = r.condition("M48.062")
    sign = r.exam("straight-leg-raise", True, side="left")
    deficit = r.exam("reflex-achilles", 0, side="left")
    course = _course([sciatica, stenosis, sign, deficit], knowledge)
    assert course.radicular_rules == ("radicular/condition", "radicular/exam")
    assert [e.reference for e in course.radicular_evidence] == _refs(
        sciatica, stenosis, sign, deficit
    )
    assert course.back_pain
    low_back = _course([r.low_back_pain()], knowledge)
    assert (low_back.radicular, low_back.back_pain, low_back.radicular_rules) == (False, True, ())
    nothing = _course([r.condition("I10")], knowledge)
    assert (nothing.radicular, nothing.back_pain) == (False, False)


def test_duration_needs_back_pain_and_is_never_negative(knowledge: Knowledge) -> None:
    # Care alone dates nothing when there is no back pain to date.
    care_only = _course([r.procedure("410160006", days=49)], knowledge)
    assert care_only.symptom_weeks is None
    assert care_only.conservative_care_weeks == pytest.approx(7.0)
    assert care_only.conservative_care
    # An exam-only radicular syndrome is dated by care; a future onset counts as 0 weeks.
    exam_only = _course(
        [
            r.exam("straight-leg-raise", True, side="left"),
            r.exam("reflex-achilles", 0, side="left"),
            r.procedure("410160006", days=14),
        ],
        knowledge,
    )
    assert exam_only.symptom_weeks == pytest.approx(2.0)
    assert _course([r.sciatica(days=-7)], knowledge).symptom_weeks == 0.0
    # History does not date current symptoms.
    old = _course(
        [r.sciatica(days=14), r.condition("M54.16", clinical="resolved", days=400)], knowledge
    )
    assert old.symptom_weeks == pytest.approx(2.0)
    assert _course([r.sciatica()], knowledge).conservative_care_weeks is None


def test_recent_mri_choice(knowledge: Knowledge) -> None:
    older, newer = r.procedure("72148", r.CPT, days=200), r.procedure("72148", r.CPT, days=100)
    assert _course([newer, older], knowledge).recent_mri.reference == _refs(newer)[0]  # type: ignore[union-attr]
    assert _course([older, newer], knowledge).recent_mri.reference == _refs(newer)[0]  # type: ignore[union-attr]
    undated = r.procedure("72148", r.CPT, days=None)
    assert _course([undated], knowledge).recent_mri.reference == _refs(undated)[0]  # type: ignore[union-attr]
    # A dated MRI in the window is preferred to an undated one; an old one leaves the undated.
    assert _course([undated, older], knowledge).recent_mri.reference == _refs(older)[0]  # type: ignore[union-attr]
    ancient = r.procedure("72148", r.CPT, days=500)
    assert _course([ancient, undated], knowledge).recent_mri.reference == _refs(undated)[0]  # type: ignore[union-attr]
    # Twelve calendar months back, to the day, is still recent (20 Nov 2025).
    edge = {**r.procedure("72148", r.CPT, days=None), "performedDateTime": "2025-11-20T09:30:00Z"}
    assert _course([edge], knowledge).recent_mri is not None
    before = {**edge, "performedDateTime": "2025-11-20T09:29:00Z"}
    assert _course([before], knowledge).recent_mri is None


def test_prior_surgery_sources(knowledge: Knowledge) -> None:
    assert _course([r.procedure("202725007", days=400)], knowledge).prior_surgery
    assert not _course([r.procedure("202725007", status="in-progress")], knowledge).prior_surgery
    assert _course([r.condition("M96.1", clinical="resolved")], knowledge).prior_surgery
    assert _course([r.observed("202725007")], knowledge).prior_surgery
    assert not _course([r.observed("202725007", value=False)], knowledge).prior_surgery
    both = [r.condition("M96.1"), r.procedure("202725007")]
    assert len(_course(both, knowledge).prior_surgery) == 2


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        ((2026, 3, 31), 1, (2026, 2, 28)),
        ((2024, 3, 31), 1, (2024, 2, 29)),
        ((2026, 1, 15), 1, (2025, 12, 15)),
        ((2026, 11, 20), 12, (2025, 11, 20)),
        ((2026, 12, 31), 12, (2025, 12, 31)),
        ((2026, 5, 31), 3, (2026, 2, 28)),
        ((2026, 7, 31), 1, (2026, 6, 30)),
        ((2026, 11, 20), 0, (2026, 11, 20)),
        ((2026, 2, 10), 25, (2024, 1, 10)),
    ],
)
def test_months_before(
    moment: tuple[int, int, int], months: int, expected: tuple[int, int, int]
) -> None:
    from datetime import UTC, datetime

    start = datetime(*moment, 9, 30, tzinfo=UTC)
    assert months_before(start, months) == datetime(*expected, 9, 30, tzinfo=UTC)


def test_radicular_exam_reads_the_legs_in_a_fixed_order(knowledge: Knowledge) -> None:
    # Both legs positive with a deficit each: the left is cited, whatever the record's order.
    right_sign = r.exam("straight-leg-raise", True, side="right")
    left_sign = r.exam("straight-leg-raise", True, side="left")
    right_deficit = r.exam("reflex-achilles", 0, side="right")
    left_deficit = r.exam("reflex-achilles", 0, side="left")
    course = _course([right_sign, left_sign, right_deficit, left_deficit], knowledge)
    assert [e.reference for e in course.radicular_evidence] == _refs(left_sign, left_deficit)
    # An unsided and a sided test together: the unsided one first, matching every deficit.
    unsided = r.exam("straight-leg-raise", True, days=1)
    course = _course([left_sign, unsided, right_deficit], knowledge)
    assert [e.reference for e in course.radicular_evidence] == _refs(unsided, right_deficit)


def test_a_stenosis_dates_the_symptoms(knowledge: Knowledge) -> None:
    course = _course([r.condition("M48.062", days=70)], knowledge)
    assert (course.radicular, course.symptom_weeks) == (True, 10.0)
