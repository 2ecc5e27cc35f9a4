from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest

from cds_service.cards.detail import detail
from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.evaluation import Evidence, Side
from cds_service.clinical.finding import Finding, NoteFinding, evidence
from cds_service.clinical.knowledge import Knowledge
from cds_service.notes.findings import ORDER_BASE
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


# --- Notes and coded statements (rules §6.4) ------------------------------------------------
# What the notes stage hands the chart: NoteFindings dated by their note (``noted``), built here
# as cds_service.notes.findings builds them, so each rule of §6.4 is tested on its own.


def _note(
    concept: str,
    *,
    days: float,
    present: bool | None = True,
    side: Side | None = None,
    since_days: float | None = None,
    current: bool = True,
    grade: int | None = None,
    reference: str = "DocumentReference/n1",
    quote: str = "As the note puts it.",
) -> NoteFinding:
    """A finding of a note written ``days`` ago; ``since_days``: the symptom's stated onset."""
    noted = r.NOW - timedelta(days=days)
    when = noted if since_days is None else r.NOW - timedelta(days=since_days)
    return NoteFinding(
        concept,
        reference,
        "DocumentReference",
        when,
        current=current,
        present=present,
        grade=grade,
        side=side,
        order=ORDER_BASE,
        noted=noted,
        quote=quote,
    )


def _refs(findings: Iterable[Finding]) -> list[str]:
    return [f.reference for f in findings]


def test_a_newer_coded_statement_on_the_same_side_takes_back_a_notes_finding(
    knowledge: Knowledge,
) -> None:
    noted = _note("foot-drop", days=5, side="left")

    def asserted(*record: dict) -> list[str]:
        return _refs(Chart.read(list(record), knowledge, r.NOW, [noted]).asserted("foot-drop"))

    assert asserted() == ["DocumentReference/n1"]
    # Examined since, on the same side, and absent: the newer statement wins.
    assert asserted(r.observed("6077001", value=False, side="left", days=1)) == []
    # Absent on the other leg, or before the note was written: the note's finding stands.
    assert asserted(r.observed("6077001", value=False, side="right", days=1)) == [
        "DocumentReference/n1"
    ]
    assert asserted(r.observed("6077001", value=False, side="left", days=9)) == [
        "DocumentReference/n1"
    ]
    # An undated coded statement is not known to be newer: dated beats undated.
    assert asserted(r.observed("6077001", value=False, side="left", days=None)) == [
        "DocumentReference/n1"
    ]
    # Absent on both legs since: taken back on the left too.
    assert asserted(r.observed("6077001", value=False, side="bilateral", days=1)) == []
    # A newer coded statement that agrees is cited beside the note, not instead of it.
    agrees = r.observed("6077001", value=True, side="left", days=1)
    assert asserted(agrees) == [f"Observation/{agrees['id']}", "DocumentReference/n1"]


def test_a_newer_note_takes_back_an_older_notes_finding_but_not_a_coded_condition(
    knowledge: Knowledge,
) -> None:
    older = _note("urinary-retention", days=6, reference="DocumentReference/old")
    denied = _note("urinary-retention", days=1, present=False, reference="DocumentReference/new")
    chart = Chart.read([], knowledge, r.NOW, [older, denied])
    assert chart.asserted("urinary-retention") == ()
    assert chart.latest("urinary-retention")[None] is denied
    assert chart.documented("urinary-retention")  # looked for and absent: the screen's answer
    # A coded Condition is not retracted by a note (only by its own clinicalStatus).
    retention = r.condition("R33.9", days=10)
    chart = Chart.read([retention], knowledge, r.NOW, [denied])
    assert _refs(chart.asserted("urinary-retention")) == [f"Condition/{retention['id']}"]


def test_a_note_is_dated_by_its_document_date_not_by_the_onset_it_states(
    knowledge: Knowledge,
) -> None:
    # Written yesterday: "3 weeks of left leg pain". The statement is yesterday's; the
    # symptoms date from three weeks ago (rule 1.3).
    sciatica = _note("radicular-syndrome", days=1, since_days=22, side="left")
    examined = r.observed("23056005", value=False, side="left", days=7)
    chart = Chart.read([examined], knowledge, r.NOW, [sciatica])
    assert chart.latest("radicular-syndrome")["left"] is sciatica
    assert chart.asserted("radicular-syndrome") == (sciatica,)
    assert chart.asserted("radicular-syndrome")[0].when == r.NOW - timedelta(days=22)
    # A coded denial after the note was written takes it back, whatever onset the note gave.
    later = r.observed("23056005", value=False, side="left", days=0.5)
    chart = Chart.read([later], knowledge, r.NOW, [sciatica])
    assert chart.asserted("radicular-syndrome") == ()
    # A note's grade is an examination of the note's date: yesterday's note is the current one.
    coded = r.exam("strength-great-toe-extension", 4, side="left", days=5)
    graded = _note("strength-great-toe-extension", days=1, present=None, grade=3, side="left")
    chart = Chart.read([coded], knowledge, r.NOW, [graded])
    assert chart.latest("strength-great-toe-extension")["left"] is graded


def test_a_coded_observation_beats_a_note_of_the_same_day(knowledge: Knowledge) -> None:
    # The note was written at 09:30, the coded exam entered at 08:00 the same day.
    morning = 1.5 / 24
    for coded_present, note_present in ((False, True), (True, False)):
        coded = r.observed("6077001", value=coded_present, side="left", days=morning)
        noted = _note("foot-drop", days=0, present=note_present, side="left")
        chart = Chart.read([coded], knowledge, r.NOW, [noted])
        assert chart.latest("foot-drop")["left"].reference == f"Observation/{coded['id']}"
        expected = [f"Observation/{coded['id']}"] if coded_present else []
        assert _refs(chart.asserted("foot-drop")) == expected
    # Graded: the coded grade is the current one even when the note's is more abnormal.
    coded = r.exam("strength-ankle-dorsiflexion", 4, side="right", days=morning)
    graded = _note("strength-ankle-dorsiflexion", days=0, present=None, grade=2, side="right")
    for notes in ([graded], [graded, graded]):
        chart = Chart.read([coded], knowledge, r.NOW, notes)
        assert chart.latest("strength-ankle-dorsiflexion")["right"].grade == 4
    # A day apart, the newer statement wins whichever it is.
    yesterday = r.observed("6077001", value=False, side="left", days=1)
    noted = _note("foot-drop", days=0, side="left")
    chart = Chart.read([yesterday], knowledge, r.NOW, [noted])
    assert chart.latest("foot-drop")["left"] is noted
    assert chart.asserted("foot-drop") == (noted,)


def test_history_in_a_note_counts_only_where_the_rules_ask_for_history(
    knowledge: Knowledge,
) -> None:
    cancer = _note("malignancy-history", days=2, current=False)
    surgery = _note("prior-lumbar-surgery", days=2, current=False, reference="DocumentReference/s")
    chart = Chart.read([], knowledge, r.NOW, [cancer, surgery])
    # Not a current finding: no current statement, nothing asserted unless history is asked for.
    assert chart.latest("malignancy-history") == {}
    assert chart.asserted("malignancy-history") == ()
    assert chart.asserted("malignancy-history", history=True) == (cancer,)
    assert chart.asserted("prior-lumbar-surgery", history=True) == (surgery,)
    # Through the rules: a cancer history is the malignancy flag's history rule, and a past
    # lumbar operation is prior surgery; neither is a current malignancy.
    assessment = evaluate(
        [r.patient(), r.sciatica(days=30, side="left")],
        (),
        hook="patient-view",
        now=r.NOW,
        knowledge=knowledge,
        note_findings=[cancer, surgery],
    ).assessment
    flags = {flag.id: flag for flag in assessment.red_flags}
    assert flags["malignancy"].rules == ("malignancy/history",)
    assert assessment.prior_lumbar_surgery
    # A current-only concept stated as history (were the notes stage to pass one) is no flag.
    old_retention = _note("urinary-retention", days=2, current=False)
    chart = Chart.read([], knowledge, r.NOW, [old_retention])
    assert chart.asserted("urinary-retention") == ()
    assert chart.latest("urinary-retention") == {}
    assert "cauda-equina" not in {
        flag.id
        for flag in evaluate(
            [r.patient(), r.sciatica(days=30)],
            (),
            hook="patient-view",
            now=r.NOW,
            knowledge=knowledge,
            note_findings=[old_retention],
        ).assessment.red_flags
    }


def test_the_evidence_of_a_flag_from_a_note_cites_the_note_and_quotes_it(
    knowledge: Knowledge,
) -> None:
    quote = "Since last night unable to pass urine."
    retention = _note("urinary-retention", days=0, quote=quote)
    assessment = evaluate(
        [r.patient(), r.sciatica(days=10, side="right")],
        (),
        hook="patient-view",
        now=r.NOW,
        knowledge=knowledge,
        note_findings=[retention],
    ).assessment
    (flag,) = [f for f in assessment.red_flags if f.id == "cauda-equina"]
    assert flag.rules == ("cauda-equina/urinary-retention",)
    assert flag.evidence == (
        Evidence("DocumentReference/n1", "Urinary retention: present, note of 20 Nov 2026", quote),
    )
    # The card's evidence line: the finding, the note's date and the sentence, for checking.
    lines = detail(assessment, ClinicalConfig()).splitlines()
    assert f"  - Urinary retention: present, note of 20 Nov 2026: “{quote}”" in lines


def test_a_grade_lost_between_a_note_and_a_later_exam_is_a_progressive_deficit(
    knowledge: Knowledge,
) -> None:
    def flags(coded: dict, graded: NoteFinding) -> dict[str, tuple[str, ...]]:
        assessment = evaluate(
            [r.patient(), r.sciatica(days=30, side="left"), coded],
            (),
            hook="patient-view",
            now=r.NOW,
            knowledge=knowledge,
            note_findings=[graded],
        ).assessment
        return {flag.id: flag.rules for flag in assessment.red_flags}

    ehl = "strength-great-toe-extension"
    # The note's 5/5 of a week ago, today's coded 4/5: a grade lost, whichever source.
    dropped = flags(
        r.exam(ehl, 4, side="left", days=0), _note(ehl, days=7, present=None, grade=5, side="left")
    )
    assert dropped["progressive-motor-deficit"] == ("progressive-motor-deficit/mrc-drop",)
    # And the other way round: the coded 5/5 of a week ago, today's note 4/5.
    dropped = flags(
        r.exam(ehl, 5, side="left", days=7), _note(ehl, days=0, present=None, grade=4, side="left")
    )
    assert dropped["progressive-motor-deficit"] == ("progressive-motor-deficit/mrc-drop",)
    # A grade regained, or lost on the other leg only, is no progression on this one.
    assert "progressive-motor-deficit" not in flags(
        r.exam(ehl, 5, side="left", days=0), _note(ehl, days=7, present=None, grade=4, side="left")
    )
    assert "progressive-motor-deficit" not in flags(
        r.exam(ehl, 4, side="left", days=0),
        _note(ehl, days=7, present=None, grade=5, side="right"),
    )


def test_a_note_and_a_coded_grade_of_the_same_day_are_one_exam_not_a_progression(
    knowledge: Knowledge,
) -> None:
    # Rules §6.4: on the same day a coded Observation beats the note. A note dated an hour after
    # the coded exam (often the same examination, written up later) is not a second exam: no
    # drop is read between the two, either way round; the coded grade stands for the day.
    def progression(coded: dict, graded: NoteFinding, *more: dict) -> tuple[str, ...] | None:
        assessment = evaluate(
            [r.patient(), r.sciatica(days=30, side="left"), coded, *more],
            (),
            hook="patient-view",
            now=r.NOW,
            knowledge=knowledge,
            note_findings=[graded],
        ).assessment
        flags = {flag.id: flag.rules for flag in assessment.red_flags}
        return flags.get("progressive-motor-deficit")

    ehl = "strength-great-toe-extension"
    hour = 1 / 24  # r.NOW is 09:30: an hour or two earlier is the same day
    coded_4, coded_3 = (r.exam(ehl, g, side="left", days=2 * hour) for g in (4, 3))
    assert progression(coded_4, _note(ehl, days=0, present=None, grade=3, side="left")) is None
    assert progression(coded_3, _note(ehl, days=0, present=None, grade=4, side="left")) is None
    # The day stays one exam against an earlier day's: coded 5/5 yesterday, then today's coded
    # 4/5 and a note's 3/5 — one grade lost (5 to 4), as the coded exam says.
    yesterday = r.exam(ehl, 5, side="left", days=1)
    rules = progression(coded_4, _note(ehl, days=0, present=None, grade=3, side="left"), yesterday)
    assert rules == ("progressive-motor-deficit/mrc-drop",)
    # A note of another day is an exam of its own: the next day's 3/5 after a coded 4/5.
    assert progression(
        r.exam(ehl, 4, side="left", days=1), _note(ehl, days=0, present=None, grade=3, side="left")
    ) == ("progressive-motor-deficit/mrc-drop",)


def test_a_record_of_read_only_mappings_reads_as_the_same_record_of_dicts(
    knowledge: Knowledge,
) -> None:
    # JSON gives dicts, but the engine takes any mapping: the dict fast paths change nothing.
    record = [r.sciatica(side="left"), r.patient("1950-01-01"), r.exam("reflex-achilles", 1)]
    frozen = [MappingProxyType(resource) for resource in record]
    as_dicts, as_mappings = (
        Chart.read(record, knowledge, r.NOW),
        Chart.read(frozen, knowledge, r.NOW),
    )
    assert (as_mappings.age_years, as_mappings.patient) == (76, f"Patient/{record[1]['id']}")
    assert (as_mappings.birth, as_mappings.findings) == (as_dicts.birth, as_dicts.findings)
    # Entries that are no resource at all are passed over, before the Patient too.
    with_junk = Chart.read(["junk", None, 7, *frozen], knowledge, r.NOW)
    assert (with_junk.age_years, with_junk.patient) == (76, as_dicts.patient)


def test_a_bilateral_statement_taken_back_on_one_leg_still_holds_for_the_other(
    knowledge: Knowledge,
) -> None:
    # Rules §6.4: per finding *and side* the newest statement wins. "Bilateral sciatica" five
    # days ago, then no sciatica in the left leg yesterday: sciatica on the right only, so no
    # bilateral radicular symptoms (an emergency flag) on the strength of the older statement.
    noted = _note("radicular-syndrome", days=5, side="bilateral", quote="Bilateral sciatica.")
    coded = r.observed("23056005", value=True, side="bilateral", days=5)
    denied = r.observed("23056005", value=False, side="left", days=1)
    cases: list[tuple[list[dict], list[Finding], str]] = [
        ([], [noted], "DocumentReference/n1"),
        ([coded], [], f"Observation/{coded['id']}"),
    ]
    for record, notes, cited in cases:
        chart = Chart.read([denied, *record], knowledge, r.NOW, notes)
        (fact,) = chart.asserted("radicular-syndrome")
        assert (fact.side, fact.reference) == ("right", cited)
        assessment = evaluate(
            [r.patient(), denied, *record],
            (),
            hook="patient-view",
            now=r.NOW,
            knowledge=knowledge,
            note_findings=notes,
        ).assessment
        assert "cauda-equina" not in {flag.id for flag in assessment.red_flags}
        assert assessment.disposition == "physiotherapy"
    # Its evidence names the side it still holds.
    chart = Chart.read([denied], knowledge, r.NOW, [noted])
    assert evidence(chart.asserted("radicular-syndrome")[0]) == Evidence(
        "DocumentReference/n1",
        "Radicular syndrome: present (right), note of 15 Nov 2026",
        "Bilateral sciatica.",
    )
    # Not denied on either leg (a newer statement that agrees): bilateral as written.
    agrees = r.observed("23056005", value=True, side="left", days=1)
    chart = Chart.read([agrees], knowledge, r.NOW, [noted])
    assert [(f.reference, f.side) for f in chart.asserted("radicular-syndrome")] == [
        (f"Observation/{agrees['id']}", "left"),
        ("DocumentReference/n1", "bilateral"),
    ]
