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
    course = _course([r.condition("M54.50", days=20),
                      r.condition("M54.16", days=None, recorded=35),
                      r.procedure("410160006", days=49)], knowledge)
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
    assert not _course([r.service_request("308447003", status="draft")], knowledge)\
        .conservative_care
    assert _course([r.service_request("308447003", status="active")], knowledge)\
        .conservative_care
    assert not _course([r.procedure("410160006", status="not-done")], knowledge)\
        .conservative_care


def test_recent_mri_window(knowledge: Knowledge) -> None:
    recent = r.procedure("394451000119106", days=300)
    old = r.procedure("394451000119106", days=400)
    assert _course([recent], knowledge).recent_mri is not None
    assert _course([old], knowledge).recent_mri is None


def test_months_before_clamps_to_month_end() -> None:
    from datetime import UTC, datetime

    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28,
                                                                             tzinfo=UTC)
