from __future__ import annotations

from cds_service.clinical.ces_screen import ITEMS, screen
from cds_service.clinical.chart import Chart
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r


def test_nothing_recorded_is_unknown_not_negative(knowledge: Knowledge) -> None:
    result = screen(Chart.read([r.sciatica()], knowledge, r.NOW))
    assert result.documented == ()
    assert result.unknown == tuple(ITEMS)


def test_negated_items_are_documented(knowledge: Knowledge) -> None:
    record = [r.sciatica(side="left"), r.observed("267064002", value=False),
              r.exam("sensation-saddle", "normal"), r.exam("anal-tone", "normal")]
    result = screen(Chart.read(record, knowledge, r.NOW))
    assert set(result.documented) == {"urinary-retention", "saddle-anaesthesia", "anal-tone"}
    # A left-sided sciatica says nothing about the right leg.
    assert set(result.unknown) == {"urinary-incontinence", "faecal-incontinence",
                                   "sexual-dysfunction", "bilateral-symptoms"}


def test_both_legs_examined_documents_bilateral_symptoms(knowledge: Knowledge) -> None:
    record = [r.sciatica(side="left"), r.exam("straight-leg-raise", True, side="left"),
              r.exam("straight-leg-raise", False, side="right")]
    assert "bilateral-symptoms" in screen(Chart.read(record, knowledge, r.NOW)).documented
    one_leg = [r.sciatica(side="left"), r.exam("strength-hip-abduction", 4, side="left")]
    assert "bilateral-symptoms" in screen(Chart.read(one_leg, knowledge, r.NOW)).unknown
    both = [r.condition("23056005", r.SCT, side="bilateral")]
    assert "bilateral-symptoms" in screen(Chart.read(both, knowledge, r.NOW)).documented


def test_an_observation_without_a_value_documents_nothing(knowledge: Knowledge) -> None:
    result = screen(Chart.read([r.exam("anal-tone", None)], knowledge, r.NOW))
    assert "anal-tone" in result.unknown
