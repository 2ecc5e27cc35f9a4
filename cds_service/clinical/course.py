"""The course of the complaint: radicular syndrome, back pain, duration, care, prior imaging."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cds_service.clinical.chart import Chart
from cds_service.clinical.evaluation import Evidence
from cds_service.clinical.exam import Exam
from cds_service.clinical.finding import Finding, evidence

_WEEK = timedelta(weeks=1)
# A crossed SLR is a straight-leg raise positive for the symptomatic leg (it is recorded there).
_PROVOCATION = ("straight-leg-raise", "crossed-straight-leg-raise", "femoral-nerve-stretch")
_BACK_PAIN = ("radicular-syndrome", "lumbar-stenosis", "low-back-pain")


@dataclass(frozen=True)
class Course:
    radicular: bool
    back_pain: bool
    #: Rule ids that made the radicular syndrome: "radicular/condition", "radicular/exam".
    radicular_rules: tuple[str, ...]
    radicular_evidence: tuple[Evidence, ...]
    symptom_weeks: float | None  # None: no date at all (counts as under 6 weeks)
    conservative_care: bool
    conservative_care_weeks: float | None
    recent_mri: Finding | None  # the most recent lumbar MRI within the configured window
    prior_surgery: tuple[Finding, ...]

    @classmethod
    def read(cls, chart: Chart, exam: Exam, prior_mri_months: int) -> Course:
        conditions = tuple(
            f for c in ("radicular-syndrome", "lumbar-stenosis") for f in chart.asserted(c)
        )
        by_exam = _exam_radicular(exam)
        rules = (("radicular/condition",) if conditions else ()) + (
            ("radicular/exam",) if by_exam else ()
        )
        radicular = bool(conditions or by_exam)
        back_pain = radicular or bool(chart.asserted("low-back-pain"))
        care = chart.of("conservative-care")
        care_start = _earliest(f.when for f in care)
        pain_dates = [f.when for c in _BACK_PAIN for f in chart.asserted(c)]
        onset = _earliest([*pain_dates, care_start]) if back_pain else None
        return cls(
            radicular=radicular,
            back_pain=back_pain,
            radicular_rules=rules,
            radicular_evidence=tuple(evidence(f) for f in (*conditions, *by_exam)),
            symptom_weeks=_weeks(chart.now, onset),
            conservative_care=bool(care),
            conservative_care_weeks=_weeks(chart.now, care_start),
            recent_mri=_recent_mri(chart, prior_mri_months),
            prior_surgery=_prior_surgery(chart),
        )


def _exam_radicular(exam: Exam) -> tuple[Finding, ...]:
    """A positive SLR / femoral stretch with a deficit on the same side (rules §1.1)."""
    deficits = exam.deficit_sides()
    for concept in _PROVOCATION:
        for side, sign in sorted(exam.positive(concept).items(), key=lambda kv: str(kv[0])):
            matching = (
                deficits.get(side, [])
                if side
                else [f for found in deficits.values() for f in found]
            )
            if side and not matching:
                matching = deficits.get(None, [])
            if matching:
                return (sign, *matching)
    return ()


def _prior_surgery(chart: Chart) -> tuple[Finding, ...]:
    """A Condition or Observation of it (history counts), or a completed Procedure (contract)."""
    done = (f for f in chart.of("prior-lumbar-surgery") if f.resource_type == "Procedure")
    return tuple(dict.fromkeys((*chart.asserted("prior-lumbar-surgery", history=True), *done)))


def _recent_mri(chart: Chart, months: int) -> Finding | None:
    """The latest lumbar MRI inside the window; else an undated one, which may be recent.

    An MRI of unknown date is not known to be older than the window, and unknown is never
    negative: the existing imaging is reviewed before it is repeated.
    """
    cutoff = months_before(chart.now, months)
    studies = chart.of("lumbar-mri")
    dated = [f for f in studies if f.when is not None and f.when >= cutoff]
    latest = max(dated, key=lambda f: (f.when, f.reference), default=None)
    if latest is None:
        latest = next((f for f in studies if f.when is None), None)
    return latest


def months_before(moment: datetime, months: int) -> datetime:
    """The same day ``months`` calendar months earlier (clamped to the month's last day)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    for day in range(moment.day, 0, -1):
        try:
            return moment.replace(year=max(year, 1), month=month + 1, day=day)
        except ValueError:
            continue
    return moment


def _earliest(moments: Iterable[datetime | None]) -> datetime | None:
    return min((m for m in moments if m is not None), default=None)


def _weeks(now: datetime, since: datetime | None) -> float | None:
    return None if since is None else max(0.0, (now - since) / _WEEK)
