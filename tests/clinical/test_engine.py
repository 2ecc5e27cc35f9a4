from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from cds_service.clinical.engine import evaluate
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r


def _record() -> list[dict]:
    return [r.patient("1980-01-01"), r.sciatica(days=20, side="left"),
            r.exam("strength-great-toe-extension", 4, side="left"),
            r.exam("strength-hip-abduction", 4, side="left"),
            r.exam("straight-leg-raise", True, side="left")]


def test_assessment_and_extension(knowledge: Knowledge) -> None:
    assessment = evaluate(_record(), [], hook="patient-view", now=r.NOW,
                          knowledge=knowledge, unavailable_data=("conditions",)).assessment
    assert assessment.disposition == "physiotherapy"
    assert assessment.localisation is not None and assessment.localisation.root == "L5"
    assert assessment.unavailable_data == ("conditions",)
    assert assessment.age_years == 46
    extension = assessment.to_extension()
    assert extension["knowledgeVersion"] == knowledge.version
    assert "disposition/physiotherapy-under-6-weeks" in extension["rules"]
    assert "null" not in json.dumps(extension)


def test_same_input_same_output_in_any_time_zone(knowledge: Knowledge) -> None:
    record = _record()
    utc = evaluate(record, [], hook="patient-view", now=r.NOW, knowledge=knowledge)
    local = r.NOW.astimezone(timezone(timedelta(hours=-5)))
    other = evaluate(record, [], hook="patient-view", now=local, knowledge=knowledge)
    assert utc == other
    naive = evaluate(record, [], hook="patient-view", now=r.NOW.replace(tzinfo=None),
                     knowledge=knowledge)
    assert naive == utc


def test_empty_and_non_list_input(knowledge: Knowledge) -> None:
    now = datetime(2026, 1, 1).astimezone()
    evaluation = evaluate([], [], hook="order-select", now=now, knowledge=knowledge)
    assert evaluation.assessment.disposition == "none"
    assert evaluate(None, None, hook="order-sign", now=now,  # type: ignore[arg-type]
                    knowledge=knowledge).order_ratings == ()
