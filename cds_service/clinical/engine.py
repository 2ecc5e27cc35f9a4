"""The clinical engine: a patient's record and draft orders in, an ``Evaluation`` out.

Pure and synchronous: the same input and ``now`` give the same output; it reads no clock, does
no I/O and never raises on JSON-shaped input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cds_service.clinical.ces_screen import screen
from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.course import Course
from cds_service.clinical.differential import differentials
from cds_service.clinical.disposition import dispose
from cds_service.clinical.evaluation import Assessment, Evaluation, Side
from cds_service.clinical.exam import Exam
from cds_service.clinical.finding import Finding
from cds_service.clinical.knowledge import Knowledge
from cds_service.clinical.localisation import localise
from cds_service.clinical.order_rating import review_orders
from cds_service.clinical.red_flag import find_red_flags

_DEFAULT_CONFIG = ClinicalConfig()


def evaluate(
    record: Sequence[Mapping[str, Any]],
    orders: Sequence[Mapping[str, Any]],
    *,
    hook: str,
    now: datetime,
    knowledge: Knowledge,
    config: ClinicalConfig = _DEFAULT_CONFIG,
    unavailable_data: tuple[str, ...] = (),
    note_findings: Sequence[Finding] = (),
    note_remarks: Sequence[str] = (),
) -> Evaluation:
    """Assess the record (rules §1-§3) and rate the imaging orders in scope (rules §4).

    ``note_findings`` are what the notes stage read from clinical notes (rules §6): the same
    findings coded data give, weighed by the same rules; ``note_remarks`` go to the card.
    """
    record = record if isinstance(record, Sequence) else ()
    chart = Chart.read(record, knowledge, now, note_findings)
    exam = Exam(chart, config)
    course = Course.read(chart, exam, config.prior_mri_months)
    report = find_red_flags(chart, exam, course, config)
    disposition, disposition_rule = dispose(report.flags, course, config)
    umn = bool(exam.umn_signs())
    localisation = localise(exam, _radicular_side(chart))
    review = review_orders(
        orders if hook in ("order-select", "order-sign") else (),
        knowledge,
        flags=report.flags,
        course=course,
        disposition=disposition,
        config=config,
    )
    rules = (
        *course.radicular_rules,
        *report.rules,
        *(("localisation/suppressed-by-upper-motor-neuron",) if umn else ()),
        disposition_rule,
        *(rating.rule for rating in review.ratings),
    )
    assessment = Assessment(
        disposition=disposition,
        red_flags=report.flags,
        localisation=localisation,
        symptom_weeks=course.symptom_weeks,
        conservative_care_weeks=course.conservative_care_weeks,
        ces_screen=screen(chart, exam, config),
        differentials=differentials(chart, exam),
        rules=tuple(dict.fromkeys(rules)),
        knowledge_version=knowledge.version,
        radicular=course.radicular,
        back_pain=course.back_pain,
        weak_flags=report.weak_flags,
        not_counted=report.not_counted,
        recent_lumbar_mri=course.recent_mri.reference if course.recent_mri else None,
        prior_lumbar_surgery=bool(course.prior_surgery),
        age_years=chart.age_years,
        unavailable_data=tuple(unavailable_data),
        note_remarks=tuple(note_remarks),
    )
    return Evaluation(
        assessment=assessment,
        order_ratings=review.ratings,
        physiotherapy_orders=review.physiotherapy,
        orders_in_scope=review.in_scope,
        new_mri_rating=review.new_mri_rating,
    )


def _radicular_side(chart: Chart) -> Side | None:
    """The side of the radicular diagnosis, for exam findings recorded without one."""
    sides = {f.side for f in chart.asserted("radicular-syndrome") if f.side}
    return sides.pop() if len(sides) == 1 else None
