from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from cds_service.clinical.engine import evaluate
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r


def _record() -> list[dict]:
    return [
        r.patient("1980-01-01"),
        r.sciatica(days=20, side="left"),
        r.exam("strength-great-toe-extension", 4, side="left"),
        r.exam("strength-hip-abduction", 4, side="left"),
        r.exam("straight-leg-raise", True, side="left"),
    ]


def test_assessment_and_extension(knowledge: Knowledge) -> None:
    assessment = evaluate(
        _record(),
        [],
        hook="patient-view",
        now=r.NOW,
        knowledge=knowledge,
        unavailable_data=("conditions",),
    ).assessment
    assert assessment.disposition == "physiotherapy"
    assert assessment.localisation is not None and assessment.localisation.root == "L5"
    assert assessment.unavailable_data == ("conditions",)
    assert assessment.age_years == 46
    extension = assessment.to_extension()
    assert extension["knowledgeVersion"] == knowledge.version
    assert "disposition/physiotherapy-under-6-weeks" in extension["rules"]
    assert "null" not in json.dumps(extension)


def test_what_the_notes_stage_remarks_reaches_the_assessment(knowledge: Knowledge) -> None:
    # Remarks about the notes ("2 note(s) could not be read") go to the card through the
    # assessment; without them a clinician would take unread notes for read ones.
    remarks = ("1 note(s) could not be read (note reader error).",)
    assessment = evaluate(
        _record(), [], hook="patient-view", now=r.NOW, knowledge=knowledge, note_remarks=remarks
    ).assessment
    assert assessment.note_remarks == remarks
    assert (
        evaluate(
            _record(), [], hook="patient-view", now=r.NOW, knowledge=knowledge
        ).assessment.note_remarks
        == ()
    )


def test_same_input_same_output_in_any_time_zone(knowledge: Knowledge) -> None:
    record = _record()
    utc = evaluate(record, [], hook="patient-view", now=r.NOW, knowledge=knowledge)
    local = r.NOW.astimezone(timezone(timedelta(hours=-5)))
    other = evaluate(record, [], hook="patient-view", now=local, knowledge=knowledge)
    assert utc == other
    naive = evaluate(
        record, [], hook="patient-view", now=r.NOW.replace(tzinfo=None), knowledge=knowledge
    )
    assert naive == utc


def test_empty_and_non_list_input(knowledge: Knowledge) -> None:
    now = datetime(2026, 1, 1).astimezone()
    evaluation = evaluate([], [], hook="order-select", now=now, knowledge=knowledge)
    assert evaluation.assessment.disposition == "none"
    assert (
        evaluate(
            None,
            None,
            hook="order-sign",
            now=now,  # type: ignore[arg-type]
            knowledge=knowledge,
        ).order_ratings
        == ()
    )


def test_the_course_reaches_the_assessment(knowledge: Knowledge) -> None:
    mri = r.procedure("72148", r.CPT, days=60)
    record = [
        r.patient("1950-06-01"),
        r.sciatica(days=70),
        r.procedure("410160006", days=56),
        mri,
        r.condition("M96.1", clinical="resolved"),
        r.condition("R63.4"),
        r.condition("R32", days=400),
    ]
    a = evaluate(record, [], hook="patient-view", now=r.NOW, knowledge=knowledge).assessment
    assert (a.radicular, a.back_pain, a.prior_lumbar_surgery) == (True, True, True)
    assert a.recent_lumbar_mri == f"Procedure/{mri['id']}"
    assert (a.symptom_weeks, a.conservative_care_weeks) == (10.0, 8.0)
    assert (a.age_years, a.weak_flags) == (76, ("weight-loss",))
    assert [e.text.endswith("long-standing, not counted") for e in a.not_counted] == [True]
    assert a.disposition == "urgent-imaging"  # fracture risk from age 76
    # Back pain alone, nothing else known.
    b = evaluate(
        [r.low_back_pain(days=None)], [], hook="patient-view", now=r.NOW, knowledge=knowledge
    ).assessment
    assert (b.radicular, b.back_pain, b.prior_lumbar_surgery, b.recent_lumbar_mri) == (
        False,
        True,
        False,
        None,
    )
    assert (b.symptom_weeks, b.conservative_care_weeks, b.age_years) == (None, None, None)
    assert (b.weak_flags, b.not_counted, b.unavailable_data, b.differentials) == ((), (), (), ())


def test_the_radicular_side_guides_unsided_findings(knowledge: Knowledge) -> None:
    findings = [r.exam("reflex-achilles", 0), r.exam("strength-ankle-plantarflexion", 4)]
    for sciatica, side in (
        (r.sciatica(side="right"), "right"),
        (r.condition("M54.16", side="left"), "left"),
    ):
        loc = evaluate(
            [sciatica, *findings], [], hook="patient-view", now=r.NOW, knowledge=knowledge
        ).assessment.localisation
        assert loc is not None and (loc.root, loc.side) == ("S1", side)
    # Two sided diagnoses, or an unsided one: no side, so no root.
    for diagnoses in ([r.sciatica(side="right"), r.sciatica(side="left")], [r.sciatica()]):
        assert (
            evaluate(
                [*diagnoses, *findings], [], hook="patient-view", now=r.NOW, knowledge=knowledge
            ).assessment.localisation
            is None
        )
