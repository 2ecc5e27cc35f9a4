from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

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


def test_simultaneous_conflicts_resolve_to_the_abnormal_value_of_every_kind(
    knowledge: Knowledge,
) -> None:
    def current(*resources: dict) -> object:
        return Chart.read(list(resources), knowledge, r.NOW).latest(
            resources[0]["code"]["coding"][0]["code"]
        )

    five, three = (
        r.exam("strength-hip-flexion", 5, side="left"),
        r.exam("strength-hip-flexion", 3, side="left"),
    )
    for pair in ((five, three), (three, five)):
        assert current(*pair)["left"].grade == 3  # type: ignore[index]
    reduced, absent = r.exam("anal-tone", "reduced"), r.exam("anal-tone", "absent")
    for pair in ((reduced, absent), (absent, reduced)):
        assert current(*pair)[None].level == "absent"  # type: ignore[index]
    negative, positive = r.exam("babinski", False), r.exam("babinski", True)
    for pair in ((negative, positive), (positive, negative)):
        assert current(*pair)[None].present is True  # type: ignore[index]
    low, high = r.exam("post-void-residual", (150, "mL")), r.exam("post-void-residual", (450, "mL"))
    for pair in ((low, high), (high, low)):
        assert current(*pair)[None].quantity == 450.0  # type: ignore[index]
    # Dated beats undated, whatever the value.
    undated = r.exam("strength-hip-flexion", 2, side="left", days=None)
    assert current(undated, five)["left"].grade == 5  # type: ignore[index]


def test_an_exact_tie_cites_the_first_in_the_record(knowledge: Knowledge) -> None:
    first, second = (
        r.exam("straight-leg-raise", True, side="left"),
        r.exam("straight-leg-raise", True, side="left"),
    )
    latest = Chart.read([first, second], knowledge, r.NOW).latest("straight-leg-raise")
    assert latest["left"].reference == f"Observation/{first['id']}"


def test_documented_and_asserted(knowledge: Knowledge) -> None:
    chart = Chart.read(
        [
            r.observed("267064002", value=False),
            r.exam("anal-tone", None),
            r.condition("R32", clinical="resolved"),
        ],
        knowledge,
        r.NOW,
    )
    assert chart.documented("urinary-retention")  # looked for and absent
    assert not chart.documented("anal-tone")  # examined, no value: unknown
    assert chart.documented("urinary-incontinence")  # a Condition, even resolved
    assert chart.asserted("urinary-retention") == ()
    assert chart.asserted("urinary-incontinence") == ()
    assert len(chart.asserted("urinary-incontinence", history=True)) == 1


def test_age_edges(knowledge: Knowledge) -> None:
    assert Chart.read([r.patient("2026-11-20")], knowledge, r.NOW).age_years == 0
    assert Chart.read([r.patient("2026-11-21")], knowledge, r.NOW).age_years is None
    assert Chart.read([r.patient("1952-12-01")], knowledge, r.NOW).age_years == 73
    assert Chart.read([r.patient("1952-10-30")], knowledge, r.NOW).age_years == 74
    assert Chart.read([], knowledge, r.NOW).age_years is None
    assert Chart.read([r.patient()], knowledge, r.NOW).patient.startswith("Patient/pat")
    assert Chart.read([{"resourceType": "Patient"}], knowledge, r.NOW).patient == "Patient"


def test_an_unreadable_or_non_observation_entry_does_not_stop_the_reading(
    knowledge: Knowledge,
) -> None:
    no_value = r.exam("anal-tone", None, days=0)
    retention = r.condition("R33.9", days=400)
    absent = r.exam("anal-tone", "absent", days=1)
    chart = Chart.read([no_value, retention, absent], knowledge, r.NOW)
    assert chart.latest("anal-tone")[None].reference == f"Observation/{absent['id']}"
    observed = r.observed("267064002", days=1)
    chart = Chart.read([retention, observed], knowledge, r.NOW)
    assert [f.reference for f in chart.asserted("urinary-retention")] == [
        f"Condition/{retention['id']}",
        f"Observation/{observed['id']}",
    ]


def test_a_bilateral_observation_is_current_on_each_leg(knowledge: Knowledge) -> None:
    slr = r.exam("straight-leg-raise", False, side="bilateral")
    latest = Chart.read([slr], knowledge, r.NOW).latest("straight-leg-raise")
    assert sorted(latest, key=str) == ["left", "right"]


def test_the_patient_is_found_anywhere_in_the_record(knowledge: Knowledge) -> None:
    chart = Chart.read(
        [r.sciatica(), {"resourceType": "Patient", "id": "p9", "birthDate": "1950-01-01"}],
        knowledge,
        r.NOW,
    )
    assert (chart.age_years, chart.patient) == (76, "Patient/p9")
    unnamed = Chart.read([{"resourceType": "Patient", "id": ""}], knowledge, r.NOW)
    assert unnamed.patient == "Patient"


def test_now_is_read_in_utc_whatever_the_machine_zone(
    knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A naive "now" is UTC, not the machine's local time; an aware one is converted to UTC.
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: another calendar day
    time.tzset()
    try:
        naive = Chart.read([], knowledge, datetime(2026, 11, 20, 23, 0))
        aware = Chart.read([], knowledge, datetime(2026, 11, 20, 23, 0, tzinfo=UTC))
    finally:
        monkeypatch.undo()
        time.tzset()
    for chart in (naive, aware):
        assert chart.now == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
        assert (chart.now.day, chart.now.utcoffset()) == (20, timedelta(0))
