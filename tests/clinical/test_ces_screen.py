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
    assert set(result.documented) == {"urinary-retention", "saddle-anaesthesia", "anal-tone",
                                      "bilateral-symptoms"}
    assert set(result.unknown) == {"urinary-incontinence", "faecal-incontinence",
                                   "sexual-dysfunction"}


def test_an_observation_without_a_value_documents_nothing(knowledge: Knowledge) -> None:
    result = screen(Chart.read([r.exam("anal-tone", None)], knowledge, r.NOW))
    assert "anal-tone" in result.unknown
