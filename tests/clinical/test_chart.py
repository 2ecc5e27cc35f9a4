from __future__ import annotations

from cds_service.clinical.chart import Chart
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r


def test_latest_per_side_with_bilateral_counting_for_both(knowledge: Knowledge) -> None:
    old = r.exam("straight-leg-raise", True, side="bilateral", days=5)
    new = r.exam("straight-leg-raise", False, side="left", days=0)
    latest = Chart.read([new, old], knowledge, r.NOW).latest("straight-leg-raise")
    assert latest["left"].reference == f"Observation/{new['id']}"
    assert latest["right"].reference == f"Observation/{old['id']}"


def test_simultaneous_conflict_resolves_to_the_abnormal_value(knowledge: Knowledge) -> None:
    normal = r.exam("sensation-saddle", "normal")
    reduced = r.exam("sensation-saddle", "reduced")
    for record in ([normal, reduced], [reduced, normal]):
        latest = Chart.read(record, knowledge, r.NOW).latest("sensation-saddle")
        assert latest[None].level == "reduced"


def test_asserted_excludes_history_unless_asked(knowledge: Knowledge) -> None:
    chart = Chart.read([r.condition("C50.9", clinical="remission")], knowledge, r.NOW)
    assert chart.asserted("malignancy") == ()
    assert len(chart.asserted("malignancy", history=True)) == 1


def test_age(knowledge: Knowledge) -> None:
    assert Chart.read([r.patient("1952-11-21")], knowledge, r.NOW).age_years == 73
    assert Chart.read([r.patient("1952-11-20")], knowledge, r.NOW).age_years == 74
    assert Chart.read([r.patient("not a date")], knowledge, r.NOW).age_years is None
