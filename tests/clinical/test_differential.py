from __future__ import annotations

from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.differential import differentials
from cds_service.clinical.exam import Exam
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r


def _differentials(record: list, knowledge: Knowledge) -> tuple[str, ...]:
    chart = Chart.read(record, knowledge, r.NOW)
    return differentials(chart, Exam(chart, ClinicalConfig()))


def test_coded_differentials(knowledge: Knowledge) -> None:
    assert _differentials([r.condition("I73.9"), r.condition("G57.12")], knowledge) == (
        "peripheral-arterial-disease",
        "meralgia-paraesthetica",
    )


def test_bilateral_reflex_loss_points_to_polyneuropathy(knowledge: Knowledge) -> None:
    record = [r.exam("reflex-achilles", 1, side="left"), r.exam("reflex-achilles", 1, side="right")]
    assert _differentials(record, knowledge) == ("polyneuropathy",)
    assert _differentials(record[:1], knowledge) == ()


def test_umn_signs_point_away_from_the_root(knowledge: Knowledge) -> None:
    assert _differentials([r.exam("clonus", True, side="left")], knowledge) == ("ms-stroke",)
