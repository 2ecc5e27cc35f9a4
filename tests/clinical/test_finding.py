from __future__ import annotations

import inspect
from dataclasses import MISSING, FrozenInstanceError, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_service.clinical.evaluation import Evidence
from cds_service.clinical.finding import (
    Finding,
    NoteFinding,
    describe,
    evidence,
    parse_instant,
    read_findings,
    stated,
)
from cds_service.clinical.knowledge import Knowledge
from cds_service.notes.findings import note_findings
from cds_service.notes.mention import Context, Mention
from tests.clinical import records as r


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-11", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-06", datetime(2026, 11, 6, tzinfo=UTC)),
        ("2026-11-06T09:10:00Z", datetime(2026, 11, 6, 9, 10, tzinfo=UTC)),
        ("2026-11-06T09:10:00.123+02:00", datetime(2026, 11, 6, 7, 10, tzinfo=UTC)),
        ("2026-11-06T09:10", datetime(2026, 11, 6, 9, 10, tzinfo=UTC)),
        ("2026-11-06T09:10:45.999999Z", datetime(2026, 11, 6, 9, 10, 45, tzinfo=UTC)),
        ("2026-11-06T23:10:45.5-01:00", datetime(2026, 11, 7, 0, 10, 45, tzinfo=UTC)),
        ("0001-01-01T00:30:00+01:00", None),
        ("9999-12-31T23:30:00-01:00", None),
        ("2026-13-06", None),
        ("yesterday", None),
        (20261106, None),
        (None, None),
    ],
)
def test_parse_instant(text: object, expected: datetime | None) -> None:
    assert parse_instant(text) == expected


def test_a_finding_takes_exactly_its_fields(knowledge: Knowledge) -> None:
    """Finding's __init__ is written out (speed): it must take the dataclass fields, in order,
    with their defaults, put each value in its own field, and leave the finding frozen."""
    parameters = list(inspect.signature(Finding.__init__).parameters.values())[1:]
    assert [(p.name, p.default) for p in parameters] == [
        (f.name, inspect.Parameter.empty if f.default is MISSING else f.default)
        for f in fields(Finding)
    ]
    values = [object() for _ in parameters]
    finding = Finding(*values)  # type: ignore[arg-type]
    assert [getattr(finding, f.name) for f in fields(Finding)] == values
    with pytest.raises(FrozenInstanceError):
        finding.concept = "clonus"  # type: ignore[misc]
    # Left out, each optional field takes its field's default.
    bare = Finding("clonus", "Observation/o1", "Observation", None)
    assert [getattr(bare, f.name) for f in fields(Finding)][4:] == [
        f.default for f in fields(Finding)
    ][4:]


def test_every_coding_of_a_code_counts_in_any_order(knowledge: Knowledge) -> None:
    codings = [
        {"system": r.SCT, "code": "999999999"},  # no concept of Radix's
        {"system": r.ICD, "code": "M54.16"},  # radicular syndrome
        {"system": r.SCT, "code": "279039007"},  # low back pain
    ]
    for ordered in (codings, codings[::-1], codings[1:] + codings[:1]):
        condition = {**r.condition("M54.16"), "code": {"coding": ordered}}
        found = {f.concept for f in read_findings([condition], knowledge)}
        assert found == {"radicular-syndrome", "low-back-pain"}
    # A coding that is not an object is passed over; the others still count.
    junk = {**r.condition("M54.16"), "code": {"coding": ["M54.16", None, 7, *codings]}}
    found = {f.concept for f in read_findings([junk], knowledge)}
    assert found == {"radicular-syndrome", "low-back-pain"}


def test_a_resource_without_an_id_is_cited_by_its_type(knowledge: Knowledge) -> None:
    record = [r.sciatica(), r.exam("reflex-achilles", 1), r.procedure("202725007")]
    for resource in record:
        del resource["id"]
    cited = {f.resource_type: f.reference for f in read_findings(record, knowledge)}
    assert cited == {
        "Condition": "Condition",
        "Observation": "Observation",
        "Procedure": "Procedure",
    }


def test_refuted_and_entered_in_error_conditions_do_not_count(knowledge: Knowledge) -> None:
    record = [
        r.condition("G83.4", verification="refuted"),
        r.condition("G83.4", verification="entered-in-error"),
    ]
    assert read_findings(record, knowledge) == ()


def test_condition_status_and_onset(knowledge: Knowledge) -> None:
    history = r.condition("Z85.3", clinical="resolved", days=None, recorded=400)
    (finding,) = read_findings([history], knowledge)
    assert finding.concept == "malignancy-history"
    assert not finding.current
    assert finding.since  # recordedDate is only a lower bound
    assert finding.when == parse_instant(r.ago(400))


def test_onset_age_uses_birth_date(knowledge: Knowledge) -> None:
    cond = r.condition("M54.16", days=None, onsetAge={"value": 40, "code": "a"})
    birth = datetime(1980, 1, 1, tzinfo=UTC)
    (finding,) = read_findings([cond], knowledge, birth)
    assert finding.when is not None and finding.when.date().isoformat() == "2020-01-01"


def test_side_from_icd_digit_and_body_site(knowledge: Knowledge) -> None:
    left, right = r.condition("M5442"), r.condition("M21.371")
    both = r.condition("M54.16", side="bilateral")
    sides = [f.side for f in read_findings([left, right, both], knowledge)]
    assert sides == ["left", "right", "bilateral"]


def test_observation_status_filter(knowledge: Knowledge) -> None:
    record = [r.exam("babinski", True, status=s) for s in ("cancelled", "entered-in-error")]
    record.append(r.exam("babinski", True, status="registered"))
    assert read_findings(record, knowledge) == ()
    assert len(read_findings([r.exam("babinski", True, status="preliminary")], knowledge)) == 1


def test_negation_is_data_and_missing_value_is_unknown(knowledge: Knowledge) -> None:
    negated = r.observed("267064002", value=False)
    absent = r.observed("267064002", value="2667000")
    present = r.observed("267064002", value="10828004")
    unknown = r.exam("straight-leg-raise", None)
    found = read_findings([negated, absent, present, unknown], knowledge)
    assert [f.present for f in found] == [False, False, True, None]
    assert not found[3].known


def test_graded_absent_is_a_deficit_not_a_negation(knowledge: Knowledge) -> None:
    obs = r.exam("sensation-saddle", None)
    obs["valueCodeableConcept"] = {"coding": [{"system": r.SCT, "code": "2667000"}]}
    (finding,) = read_findings([obs], knowledge)
    assert finding.level == "absent"


def test_out_of_range_grades_are_unknown(knowledge: Knowledge) -> None:
    found = read_findings(
        [
            r.exam("strength-hip-flexion", 7),
            r.exam("reflex-patellar", 5),
            r.exam("strength-hip-flexion", True),
        ],
        knowledge,
    )
    assert all(f.grade is None for f in found)


def test_temperature_in_fahrenheit_is_converted(knowledge: Knowledge) -> None:
    (finding,) = read_findings([r.temperature(101.3, "[degF]")], knowledge)
    assert finding.quantity == pytest.approx(38.5)


def test_describe_reads_like_a_side_panel_line(knowledge: Knowledge) -> None:
    obs = r.exam("strength-great-toe-extension", 4, side="left")
    (finding,) = read_findings([obs], knowledge)
    assert describe(finding) == "Great toe extension 4/5 (left), 20 Nov 2026"


@pytest.mark.parametrize(
    "junk",
    [
        None,
        3,
        "x",
        [],
        {},
        {"resourceType": "Condition"},
        {"resourceType": "Observation", "status": "final", "code": {"coding": "nope"}},
        {"resourceType": "Condition", "code": {"coding": [{"system": r.ICD, "code": 5}]}},
        {"resourceType": "Condition", "code": {"coding": [{"system": r.ICD, "code": ["M54.16"]}]}},
        {"resourceType": "Condition", "code": {"coding": [{"system": [r.ICD], "code": "M54.16"}]}},
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": r.LOINC, "code": "8310-5"}]},
            "valueQuantity": {"value": "hot"},
        },
    ],
)
def test_junk_is_skipped_or_unknown(junk: object, knowledge: Knowledge) -> None:
    assert all(not f.known for f in read_findings([junk], knowledge))


# --- Findings read from notes (rules §6) ---------------------------------------------------


def _mention(concept: str, context: Context = "positive", **values: Any) -> Mention:
    """One mention as the notes stage reads it from a sentence."""
    quote = values.pop("quote", f"About {concept}.")
    kind = values.pop("kind", "symptom")
    return Mention(concept, kind, context, concept, quote, 0, len(concept), **values)


def test_a_notes_findings_are_dated_by_the_note_and_carry_its_sentence(
    knowledge: Knowledge,
) -> None:
    written = datetime(2026, 11, 19, 16, 45, tzinfo=UTC)
    mentions = [
        _mention(
            "radicular-syndrome", side="left", duration_days=21.0, quote="3 weeks of L sciatica."
        ),
        _mention("strength-great-toe-extension", kind="strength", side="left", grade=4),
    ]
    sciatica, ehl = note_findings(mentions, "DocumentReference/d7", written, knowledge)
    assert isinstance(sciatica, NoteFinding) and isinstance(ehl, NoteFinding)
    # The statement is the note's; a stated duration dates only the symptoms (rule 1.3).
    assert (sciatica.noted, sciatica.when) == (written, written - timedelta(days=21))
    assert (ehl.noted, ehl.when, ehl.grade) == (written, written, 4)
    assert stated(sciatica) == stated(ehl) == written
    assert sciatica.quote == "3 weeks of L sciatica."
    assert (sciatica.reference, sciatica.resource_type) == (
        "DocumentReference/d7",
        "DocumentReference",
    )
    assert evidence(sciatica) == Evidence(
        "DocumentReference/d7",
        "Radicular syndrome: present (left), since 29 Oct 2026 (note of 19 Nov 2026)",
        "3 weeks of L sciatica.",
    )
    assert describe(ehl) == "Great toe extension 4/5 (left), note of 19 Nov 2026"
    # A coded finding has no note date and quotes nothing.
    coded = read_findings([r.exam("strength-great-toe-extension", 4, side="left")], knowledge)
    assert (coded[0].noted, coded[0].quote, evidence(coded[0]).quote) == (None, None, None)
    assert stated(coded[0]) == coded[0].when


def test_history_in_a_note_is_kept_only_where_history_counts(knowledge: Knowledge) -> None:
    def read(mention: Mention) -> list[Finding]:
        return list(note_findings([mention], "DocumentReference/h", r.NOW, knowledge))

    # "history of foot drop in 2010", "previous retention": not current, and history does not
    # count for them.
    assert read(_mention("foot-drop", "historical")) == []
    assert read(_mention("urinary-retention", "historical", ces=True)) == []
    # Cancer, prior lumbar surgery and drug use: history, under the concept history names.
    (cancer,) = read(
        _mention(
            "malignancy", "historical", history_counts=True, history_concept="malignancy-history"
        )
    )
    assert (cancer.concept, cancer.current, cancer.present) == ("malignancy-history", False, True)
    (surgery,) = read(
        _mention("prior-lumbar-surgery", "historical", history_counts=True, current_counts=False)
    )
    assert (surgery.concept, surgery.current) == ("prior-lumbar-surgery", False)
    (drugs,) = read(_mention("injecting-drug-use", "historical", history_counts=True))
    assert (drugs.concept, drugs.current) == ("injecting-drug-use", False)
    # Prior surgery only counts as history: "discectomy" alone may be a plan.
    assert read(_mention("prior-lumbar-surgery", history_counts=True, current_counts=False)) == []
