"""finding.py reads the record exactly as docs/input-contract.md says: dates, units, statuses,
sides, values and the evidence line, one contract sentence at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds_service.clinical.finding import Finding, describe, parse_instant, read_findings
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r

WHO = "http://hl7.org/fhir/sid/icd-10"
BIRTH = datetime(1980, 1, 1, tzinfo=UTC)
T1, T2, T3, T4 = (
    "2026-10-01T08:00:00Z",
    "2026-10-02T08:00:00Z",
    "2026-10-03T08:00:00Z",
    "2026-10-04T08:00:00Z",
)


def _at(text: str) -> datetime:
    day, hour = text[:10].split("-"), int(text[11:13])
    return datetime(int(day[0]), int(day[1]), int(day[2]), hour, tzinfo=UTC)


def _one(resource: dict[str, Any], knowledge: Knowledge, birth: datetime | None = None) -> Finding:
    (finding,) = read_findings([resource], knowledge, birth)
    return finding


def _undated(resource: dict[str, Any]) -> dict[str, Any]:
    for key in ("effectiveDateTime", "onsetDateTime", "performedDateTime", "authoredOn", "started"):
        resource.pop(key, None)
    return resource


# --- dates (contract §1 "Observation", "Condition", §4) ---------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"effectivePeriod": {"start": T2, "end": T4}}, T2),
        ({"effectiveInstant": T3}, T3),
        ({"issued": T4}, T4),
        (
            {
                "effectiveDateTime": T1,
                "effectivePeriod": {"start": T2},
                "effectiveInstant": T3,
                "issued": T4,
            },
            T1,
        ),
        ({"effectivePeriod": {"start": T2}, "effectiveInstant": T3, "issued": T4}, T2),
        ({"effectivePeriod": {"end": T2}, "effectiveInstant": T3, "issued": T4}, T3),
        ({"effectiveDateTime": "last week", "issued": T4}, T4),
        ({}, None),
    ],
)
def test_observation_time(
    fields: dict[str, Any], expected: str | None, knowledge: Knowledge
) -> None:
    obs = {**_undated(r.exam("babinski", True)), **fields}
    assert _one(obs, knowledge).when == (_at(expected) if expected else None)


def test_condition_onset_before_recorded_date(knowledge: Knowledge) -> None:
    both = {
        **_undated(r.condition("M54.16")),
        "onsetDateTime": T1,
        "onsetPeriod": {"start": T2},
        "recordedDate": T3,
    }
    finding = _one(both, knowledge)
    assert (finding.when, finding.since) == (_at(T1), False)
    period = {**_undated(r.condition("M54.16")), "onsetPeriod": {"start": T2}, "recordedDate": T3}
    finding = _one(period, knowledge)
    assert (finding.when, finding.since) == (_at(T2), False)
    recorded = {**_undated(r.condition("M54.16")), "onsetString": "last spring", "recordedDate": T3}
    finding = _one(recorded, knowledge)
    assert (finding.when, finding.since) == (_at(T3), True)
    nothing = _undated(r.condition("M54.16"))
    assert (_one(nothing, knowledge).when, _one(nothing, knowledge).since) == (None, False)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        ({"value": 40, "code": "a"}, datetime(2020, 1, 1, tzinfo=UTC)),
        ({"value": 40}, datetime(2020, 1, 1, tzinfo=UTC)),  # no unit: years
        ({"value": 2, "unit": "yr"}, datetime(1981, 12, 31, 12, tzinfo=UTC)),
        ({"value": 2, "unit": "yrs"}, datetime(1981, 12, 31, 12, tzinfo=UTC)),
        ({"value": 2, "unit": "year"}, datetime(1981, 12, 31, 12, tzinfo=UTC)),
        ({"value": 2, "unit": " Years "}, datetime(1981, 12, 31, 12, tzinfo=UTC)),
        ({"value": 6, "code": "mo"}, datetime(1980, 7, 1, 15, tzinfo=UTC)),
        ({"value": 6, "unit": "month"}, datetime(1980, 7, 1, 15, tzinfo=UTC)),
        ({"value": 6, "unit": "months"}, datetime(1980, 7, 1, 15, tzinfo=UTC)),
        ({"value": 3, "code": "wk"}, datetime(1980, 1, 22, tzinfo=UTC)),
        ({"value": 3, "unit": "week"}, datetime(1980, 1, 22, tzinfo=UTC)),
        ({"value": 3, "unit": "weeks"}, datetime(1980, 1, 22, tzinfo=UTC)),
        ({"value": 10, "code": "d"}, datetime(1980, 1, 11, tzinfo=UTC)),
        ({"value": 10, "unit": "day"}, datetime(1980, 1, 11, tzinfo=UTC)),
        ({"value": 10, "unit": "days"}, datetime(1980, 1, 11, tzinfo=UTC)),
        ({"value": 36, "code": "h"}, datetime(1980, 1, 2, 12, tzinfo=UTC)),
        ({"value": 0.5, "code": "a"}, datetime(1980, 7, 1, 15, tzinfo=UTC)),
        # The UCUM code first, then the human unit.
        ({"value": 6, "code": "mo", "unit": "years"}, datetime(1980, 7, 1, 15, tzinfo=UTC)),
        ({"value": 3, "code": "fortnights", "unit": "wk"}, datetime(1980, 1, 22, tzinfo=UTC)),
    ],
)
def test_onset_age_units(age: dict[str, Any], expected: datetime, knowledge: Knowledge) -> None:
    cond = {**_undated(r.condition("M54.16")), "onsetAge": age, "recordedDate": T3}
    finding = _one(cond, knowledge, BIRTH)
    assert (finding.when, finding.since) == (expected, False)


@pytest.mark.parametrize(
    "age",
    [
        {"value": 3, "code": "fortnights"},
        {"value": -1, "code": "a"},
        {"value": 200 * 366, "code": "d"},
        {"value": "40", "code": "a"},
        {"value": True},
        {"code": "a"},
        "40",
    ],
)
def test_unreadable_onset_age_falls_back_to_the_recorded_date(
    age: Any, knowledge: Knowledge
) -> None:
    cond = {**_undated(r.condition("M54.16")), "onsetAge": age, "recordedDate": T3}
    finding = _one(cond, knowledge, BIRTH)
    assert (finding.when, finding.since) == (_at(T3), True)


def test_onset_age_bounds(knowledge: Knowledge) -> None:
    # 0 is a real age (since birth); just under 200 x 366 days is still read.
    zero = {**_undated(r.condition("M54.16")), "onsetAge": {"value": 0, "code": "a"}}
    assert _one(zero, knowledge, BIRTH).when == BIRTH
    oldest = {**_undated(r.condition("M54.16")), "onsetAge": {"value": 200 * 366 - 1, "code": "d"}}
    assert _one(oldest, knowledge, BIRTH).when == datetime(2180, 5, 30, tzinfo=UTC)


def test_onset_range_low_and_no_birth_date(knowledge: Knowledge) -> None:
    ranged = {
        **_undated(r.condition("M54.16")),
        "onsetRange": {
            "low": {"value": 30, "unit": "years"},
            "high": {"value": 35, "unit": "years"},
        },
    }
    assert _one(ranged, knowledge, BIRTH).when == datetime(2009, 12, 31, 12, tzinfo=UTC)
    # onsetAge before onsetRange; without a birth date neither can be read.
    both = {**ranged, "onsetAge": {"value": 10, "code": "d"}}
    assert _one(both, knowledge, BIRTH).when == datetime(1980, 1, 11, tzinfo=UTC)
    assert _one(ranged, knowledge, None).when is None
    # The birth date comes from the Patient resource of the record.
    patient = {"resourceType": "Patient", "id": "p", "birthDate": "1980-01-01"}
    from cds_service.clinical.chart import Chart

    chart = Chart.read([patient, ranged], knowledge, r.NOW)
    assert chart.of("radicular-syndrome")[0].when == datetime(2009, 12, 31, 12, tzinfo=UTC)


def _care_when(resource: dict[str, Any], knowledge: Knowledge, concept: str) -> datetime | None:
    (finding,) = [f for f in read_findings([resource], knowledge) if f.concept == concept]
    return finding.when


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"performedDateTime": T1, "performedPeriod": {"start": T2}}, T1),
        ({"performedPeriod": {"start": T2, "end": T4}}, T2),
        ({"performedPeriod": {"start": T2}, "occurrenceDateTime": T3}, T2),
        ({"occurrenceDateTime": T3, "occurrencePeriod": {"start": T4}}, T3),
        ({"occurrencePeriod": {"start": T4}}, T4),
        ({}, None),
    ],
)
def test_procedure_dates(
    fields: dict[str, Any], expected: str | None, knowledge: Knowledge
) -> None:
    for code, system, concept in (
        ("410160006", r.SCT, "conservative-care"),
        ("72148", r.CPT, "lumbar-mri"),
        ("202725007", r.SCT, "prior-lumbar-surgery"),
    ):
        proc = {**_undated(r.procedure(code, system)), **fields}
        assert _care_when(proc, knowledge, concept) == (_at(expected) if expected else None)


@pytest.mark.parametrize(
    ("fields", "mri", "care"),
    [
        # An MRI is dated when it was done; a referral shows the symptoms when it was written.
        ({"authoredOn": T1, "occurrenceDateTime": T2, "occurrencePeriod": {"start": T3}}, T2, T1),
        ({"authoredOn": T1, "occurrencePeriod": {"start": T3}}, T3, T1),
        ({"occurrenceDateTime": T2, "occurrencePeriod": {"start": T3}}, T2, T2),
        ({"occurrencePeriod": {"start": T3}}, T3, T3),
        ({"authoredOn": T1}, T1, T1),
        ({}, None, None),
    ],
)
def test_service_request_dates(
    fields: dict[str, Any], mri: str | None, care: str | None, knowledge: Knowledge
) -> None:
    done = {**_undated(r.service_request("72148", r.CPT, status="completed")), **fields}
    assert _care_when(done, knowledge, "lumbar-mri") == (_at(mri) if mri else None)
    referral = {**_undated(r.service_request("308447003", status="active")), **fields}
    assert _care_when(referral, knowledge, "conservative-care") == (_at(care) if care else None)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"effectiveDateTime": T1, "effectivePeriod": {"start": T2}, "issued": T3}, T1),
        ({"effectivePeriod": {"start": T2}, "issued": T3}, T2),
        ({"issued": T3}, T3),
        ({}, None),
    ],
)
def test_diagnostic_report_dates(
    fields: dict[str, Any], expected: str | None, knowledge: Knowledge
) -> None:
    report = {**_undated(r.diagnostic_report()), **fields}
    assert _care_when(report, knowledge, "lumbar-mri") == (_at(expected) if expected else None)


def test_imaging_study_started_and_several_procedure_codes(knowledge: Knowledge) -> None:
    study = {**r.imaging_study(days=None), "started": T2}
    assert _care_when(study, knowledge, "lumbar-mri") == _at(T2)
    # The lumbar MRI may be any of the study's procedure codes, not only the first.
    study["procedureCode"] = [
        {"coding": [{"system": r.CPT, "code": "71250"}]},
        {"coding": [{"system": r.LOINC, "code": "30679-5"}]},
    ]
    assert _care_when(study, knowledge, "lumbar-mri") == _at(T2)
    study["procedureCode"].reverse()
    assert _care_when(study, knowledge, "lumbar-mri") == _at(T2)
    # An ImagingStudy's code is its procedureCode: a top-level code is not read.
    coded = {
        **r.imaging_study(),
        "procedureCode": [],
        "code": {"coding": [{"system": r.CPT, "code": "72148"}]},
    }
    assert read_findings([coded], knowledge) == ()


# --- statuses (contract §1, §4) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        ("final", True),
        ("amended", True),
        ("corrected", True),
        ("preliminary", True),
        ("registered", False),
        ("cancelled", False),
        ("entered-in-error", False),
        ("unknown", False),
        (None, False),
        (["final"], False),
    ],
)
def test_observation_statuses(status: Any, counts: bool, knowledge: Knowledge) -> None:
    obs = r.exam("babinski", True)
    if status is None:
        del obs["status"]
    else:
        obs["status"] = status
    assert len(read_findings([obs], knowledge)) == (1 if counts else 0)


@pytest.mark.parametrize(
    ("resource", "concept", "counting", "not_counting"),
    [
        (
            r.procedure("410160006"),
            "conservative-care",
            ("completed", "in-progress"),
            ("not-done", "preparation", "stopped", "on-hold", "entered-in-error", "unknown"),
        ),
        (
            r.service_request("308447003"),
            "conservative-care",
            ("active", "completed"),
            ("draft", "on-hold", "revoked", "entered-in-error", "unknown"),
        ),
        (
            r.procedure("72148", r.CPT),
            "lumbar-mri",
            ("completed",),
            ("in-progress", "preparation", "not-done"),
        ),
        (
            r.service_request("72148", r.CPT),
            "lumbar-mri",
            ("completed",),
            ("active", "draft", "revoked"),
        ),
        (
            r.procedure("202725007"),
            "prior-lumbar-surgery",
            ("completed",),
            ("in-progress", "not-done"),
        ),
        (
            r.imaging_study(),
            "lumbar-mri",
            ("available", "unknown"),
            ("registered", "cancelled", "entered-in-error"),
        ),
        (
            r.diagnostic_report(),
            "lumbar-mri",
            ("partial", "preliminary", "final", "amended", "corrected", "appended"),
            ("registered", "cancelled", "entered-in-error", "unknown"),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_care_and_imaging_statuses(
    resource: dict[str, Any],
    concept: str,
    counting: tuple[str, ...],
    not_counting: tuple[str, ...],
    knowledge: Knowledge,
) -> None:
    for status in (*counting, *not_counting):
        found = read_findings([{**resource, "status": status}], knowledge)
        assert [f.concept for f in found] == ([concept] if status in counting else []), status
    assert read_findings([{**resource, "status": None}], knowledge) == ()


def test_each_concept_of_a_care_record_is_read_by_its_own_status(knowledge: Knowledge) -> None:
    # A completed Procedure coded both as a lumbar CT and as lumbar surgery: the CT is no prior
    # imaging, the surgery is prior surgery.
    both = r.procedure("72131", r.CPT)
    both["code"]["coding"].append({"system": r.SCT, "code": "202725007"})
    assert [f.concept for f in read_findings([both], knowledge)] == ["prior-lumbar-surgery"]
    # An active ServiceRequest coded as physiotherapy and MRI: care ordered, no MRI done.
    request = r.service_request("308447003", status="active")
    request["code"]["coding"].append({"system": r.CPT, "code": "72148"})
    assert [f.concept for f in read_findings([request], knowledge)] == ["conservative-care"]


def test_only_these_resources_give_care_or_imaging(knowledge: Knowledge) -> None:
    # A surgery request is not surgery done; a prior lumbar CT or radiograph is not prior imaging.
    assert read_findings([r.service_request("202725007", status="completed")], knowledge) == ()
    assert read_findings([r.procedure("72131", r.CPT)], knowledge) == ()
    assert read_findings([r.service_request("72100", r.CPT, status="completed")], knowledge) == ()
    # An Observation coded as physiotherapy or an MRI is ignored; one of prior surgery counts.
    assert read_findings([r.observed("410160006"), r.observed("72148", r.CPT)], knowledge) == ()
    (surgery,) = read_findings([r.observed("202725007")], knowledge)
    assert (surgery.concept, surgery.present) == ("prior-lumbar-surgery", True)


def test_verification_and_clinical_status_codings(knowledge: Knowledge) -> None:
    for verification in ("unconfirmed", "provisional", "differential", "confirmed"):
        assert read_findings([r.condition("M54.16", verification=verification)], knowledge)
    # Any coding of the status counts, not only the first.
    refuted = r.condition("M54.16")
    refuted["verificationStatus"] = {"coding": [{"code": "confirmed"}, {"code": "refuted"}]}
    assert read_findings([refuted], knowledge) == ()
    for clinical, current in (
        ("active", True),
        ("recurrence", True),
        ("relapse", True),
        ("inactive", False),
        ("resolved", False),
        ("remission", False),
    ):
        assert _one(r.condition("M54.16", clinical=clinical), knowledge).current is current


# --- sides (contract §1 "Side") ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "side"),
    [
        ("M54.31", "right"),
        ("M54.41", "right"),
        ("M21.371", "right"),
        ("M54.32", "left"),
        ("M54.42", "left"),
        ("M21.372", "left"),
        ("m5441", "right"),
        (" M54.42 ", "left"),
        ("M54.30", None),
        ("M54.16", None),
    ],
)
@pytest.mark.parametrize("system", [r.ICD, WHO])
def test_side_from_the_icd_digit(
    code: str, side: str | None, system: str, knowledge: Knowledge
) -> None:
    cond = r.condition(code, system)
    findings = read_findings([cond], knowledge)
    assert findings and all(f.side == side for f in findings)


def test_icd_side_needs_an_icd_system_and_yields_to_body_site(knowledge: Knowledge) -> None:
    # Another system's code that looks like M54.31 is no ICD code; a SNOMED coding beside it
    # makes the Condition readable.
    cond = r.condition("23056005", r.SCT)
    cond["code"]["coding"].append({"system": "http://example.org/local", "code": "M54.31"})
    assert _one(cond, knowledge).side is None
    # The digit is read from whichever ICD coding carries it.
    cond["code"]["coding"].append({"system": r.ICD, "code": "M54.32"})
    assert _one(cond, knowledge).side == "left"
    assert _one(r.condition("M54.31", side="left"), knowledge).side == "left"
    # Observations read the digit too (foot drop coded M21.371).
    (drop,) = read_findings([r.observed("M21.371", r.ICD)], knowledge)
    assert (drop.concept, drop.side) == ("foot-drop", "right")


def _site(*codes: str) -> dict[str, Any]:
    return {"coding": [{"system": r.SCT, "code": c} for c in codes]}


@pytest.mark.parametrize(
    ("body_site", "side"),
    [
        ([_site(r.SIDES["left"])], "left"),
        ([_site(r.SIDES["right"])], "right"),
        ([_site(r.SIDES["bilateral"])], "bilateral"),
        ([_site(r.SIDES["left"]), _site(r.SIDES["right"])], "bilateral"),
        ([_site(r.SIDES["left"], r.SIDES["right"])], "bilateral"),
        ([_site(r.SIDES["right"]), _site(r.SIDES["bilateral"])], "bilateral"),
        ([_site("30021000")], None),  # "lower leg structure": not a laterality
        ([_site("30021000"), _site(r.SIDES["right"])], "right"),
        ([None, "left", _site(r.SIDES["left"])], "left"),
        (_site(r.SIDES["right"]), "right"),  # a single CodeableConcept (Observation)
        ("left", None),
    ],
)
def test_side_from_body_site(body_site: Any, side: str | None, knowledge: Knowledge) -> None:
    cond = {**r.condition("M54.16"), "bodySite": body_site}
    obs = {**r.exam("reflex-achilles", 0), "bodySite": body_site}
    assert _one(cond, knowledge).side == side
    assert _one(obs, knowledge).side == side


# --- values and units (contract §1 "Negation is data", §2, §3) --------------------------------


@pytest.mark.parametrize(
    ("value", "unit_field", "celsius"),
    [
        (38.5, {"code": "Cel"}, 38.5),
        (38.5, {"code": "°C"}, 38.5),
        (38.5, {"code": "C"}, 38.5),
        (38.5, {"code": "degC"}, 38.5),
        (38.5, {"code": " CEL "}, 38.5),
        (101.3, {"code": "[degF]"}, 38.5),
        (101.3, {"code": "°F"}, 38.5),
        (101.3, {"code": "F"}, 38.5),
        (101.3, {"code": "degF"}, 38.5),
        (101.3, {"unit": "°F"}, 38.5),  # the human unit when there is no code
        (45.5, {"unit": "°F"}, 7.5),
        (60.0, {"unit": "Cel"}, 60.0),
        (38.5, {"code": "Cel", "unit": "°F"}, 38.5),  # the code first
        (38.2, {}, 38.2),
        (49.9, {}, 49.9),
        (50, {}, 10.0),
        (101.3, {}, 38.5),  # no unit
        (311.65, {"code": "K"}, None),
        (38.5, {"code": 7}, 38.5),
        # Converted values are rounded to 2 places: 100.399 °F is 38.0 °C, a fever.
        (100.399, {"code": "[degF]"}, 38.0),
        (100.399, {}, 38.0),
    ],
)
def test_temperature_units(
    value: float, unit_field: dict[str, Any], celsius: float | None, knowledge: Knowledge
) -> None:
    obs = r.temperature(value)
    obs["valueQuantity"] = {"value": value, **unit_field}
    finding = _one(obs, knowledge)
    assert finding.quantity == celsius


@pytest.mark.parametrize(
    ("value", "unit", "millilitres"),
    [
        (250, "mL", 250.0),
        (250, "ml", 250.0),
        (250, "cm3", 250.0),
        (0.35, "L", 350.0),
        (0.35, "l", 350.0),
        (2.5, "dL", 250.0),
        (250, None, 250.0),
        (8, "[foz_us]", None),
        ("250", "mL", None),
        (True, "mL", None),
        (float("nan"), "mL", None),
    ],
)
def test_post_void_residual_units(
    value: Any, unit: str | None, millilitres: float | None, knowledge: Knowledge
) -> None:
    obs = r.exam("post-void-residual", (value, unit))
    if unit is None:
        del obs["valueQuantity"]["code"]
    assert _one(obs, knowledge).quantity == millilitres
    # The human unit when there is no UCUM code.
    if isinstance(unit, str):
        obs["valueQuantity"] = {"value": value, "unit": unit}
        assert _one(obs, knowledge).quantity == millilitres


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        ({"valueInteger": 4}, 4),
        ({"valueInteger": 0}, 0),
        ({"valueInteger": 5}, 5),
        ({"valueInteger": 6}, None),
        ({"valueInteger": -1}, None),
        ({"valueQuantity": {"value": 3}}, 3),
        ({"valueQuantity": {"value": 3.0}}, 3),
        ({"valueQuantity": {"value": 3.5}}, None),
        ({"valueInteger": True}, None),
        ({"valueInteger": "4"}, None),
        ({"valueInteger": 4, "valueQuantity": {"value": 2}}, 4),
    ],
)
def test_mrc_grades(value: dict[str, Any], grade: int | None, knowledge: Knowledge) -> None:
    obs = {**r.exam("strength-hip-flexion", None), **value}
    assert _one(obs, knowledge).grade == grade


def test_reflex_grades(knowledge: Knowledge) -> None:
    grades = [_one(r.exam("reflex-achilles", g), knowledge).grade for g in (0, 4, 5, -1)]
    assert grades == [0, 4, None, None]


def test_code_only_and_data_absent_observations(knowledge: Knowledge) -> None:
    code_only = r.observed("267064002", value=None)
    assert "valueBoolean" not in code_only
    assert _one(code_only, knowledge).present is True  # the problem-list pattern
    # An examination code without a value says nothing.
    assert not _one(r.exam("straight-leg-raise", None), knowledge).known
    assert not _one(r.exam("sensation-saddle", None), knowledge).known
    # dataAbsentReason: unknown whatever the value, and whatever the code.
    absent_reason = {"coding": [{"code": "not-performed"}]}
    for resource in (
        r.observed("267064002", value=None),
        r.observed("267064002", value=True),
        r.exam("straight-leg-raise", True),
        r.exam("strength-hip-flexion", 3),
        r.exam("anal-tone", "absent"),
        r.temperature(39.0),
    ):
        finding = _one({**resource, "dataAbsentReason": absent_reason}, knowledge)
        assert not finding.known, resource["code"]
    # A value Radix cannot read is unknown, for a symptom too.
    assert not _one({**r.observed("267064002", value=None), "valueString": "yes"}, knowledge).known


@pytest.mark.parametrize(
    ("concept", "value", "present"),
    [
        ("straight-leg-raise", "52101004", True),
        ("straight-leg-raise", "10828004", True),
        ("straight-leg-raise", "2667000", False),
        ("straight-leg-raise", "260385009", False),
        ("babinski", "radix#normal", False),
        ("babinski", "radix#absent", False),
        ("babinski", "radix#reduced", None),
    ],
)
def test_coded_values_of_signs(
    concept: str, value: str, present: bool | None, knowledge: Knowledge
) -> None:
    obs = r.exam(concept, None)
    system, code = (r.RADIX, value[6:]) if value.startswith("radix#") else (r.SCT, value)
    obs["valueCodeableConcept"] = {"coding": [{"system": system, "code": code}]}
    assert _one(obs, knowledge).present is present


@pytest.mark.parametrize(
    ("code", "level"),
    [("normal", "normal"), ("reduced", "reduced"), ("absent", "absent")],
)
def test_graded_levels(code: str, level: str, knowledge: Knowledge) -> None:
    for concept in ("sensation-dorsum-foot", "sensation-saddle", "anal-tone"):
        assert _one(r.exam(concept, code), knowledge).level == level
    # A value that is both (two codings) reads as the worse one.
    obs = r.exam("anal-tone", None)
    obs["valueCodeableConcept"] = {
        "coding": [{"system": r.RADIX, "code": "normal"}, {"system": r.RADIX, "code": code}]
    }
    assert _one(obs, knowledge).level == level


def test_a_condition_coded_only_with_a_value_or_side_is_no_finding(knowledge: Knowledge) -> None:
    assert read_findings([r.condition("52101004", r.SCT)], knowledge) == ()
    assert read_findings([r.condition(r.SIDES["left"], r.SCT)], knowledge) == ()
    assert read_findings([r.observed(r.SIDES["left"])], knowledge) == ()
    # A Condition with two concepts gives one finding per concept, in name order.
    both = r.condition("M54.16")
    both["code"]["coding"].append({"system": r.ICD, "code": "M48.062"})
    assert [f.concept for f in read_findings([both], knowledge)] == [
        "lumbar-stenosis",
        "radicular-syndrome",
    ]


# --- UTC offsets and partial dates (contract §1 "Dates") --------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-06T09:10:00-05:00", datetime(2026, 11, 6, 14, 10, tzinfo=UTC)),
        ("2026-11-06T09:10:00+05:30", datetime(2026, 11, 6, 3, 40, tzinfo=UTC)),
        ("2026-11-06T09:10:00-03:30", datetime(2026, 11, 6, 12, 40, tzinfo=UTC)),
        ("2026-11-06T09:10:00+0530", datetime(2026, 11, 6, 3, 40, tzinfo=UTC)),
        ("2026-11-06T09:10:00-0930", datetime(2026, 11, 6, 18, 40, tzinfo=UTC)),
        ("2026-11-06T23:30:00-02:00", datetime(2026, 11, 7, 1, 30, tzinfo=UTC)),
        ("2026-11-06T00:30:00+01:00", datetime(2026, 11, 5, 23, 30, tzinfo=UTC)),
        ("2026-11-06T09:10:45.5+00:00", datetime(2026, 11, 6, 9, 10, 45, tzinfo=UTC)),
        ("2026-11-06T09:10:45Z", datetime(2026, 11, 6, 9, 10, 45, tzinfo=UTC)),
        (" 2026-11-06 ", datetime(2026, 11, 6, tzinfo=UTC)),
        ("2026-11-06T25:00:00Z", None),
        ("2026-02-30", None),
        ("2026-11-06T09", None),
        ("2026-11-06T09:10:00+5:30", None),
    ],
)
def test_offsets_and_partial_dates(text: str, expected: datetime | None) -> None:
    assert parse_instant(text) == expected


# --- the evidence line (what a clinician reads) -----------------------------------------------

EXAM_LABELS = {
    "strength-hip-flexion": "Hip flexion",
    "strength-knee-extension": "Knee extension",
    "strength-ankle-dorsiflexion": "Ankle dorsiflexion",
    "strength-great-toe-extension": "Great toe extension",
    "strength-hip-abduction": "Hip abduction",
    "strength-ankle-inversion": "Ankle inversion",
    "strength-ankle-eversion": "Ankle eversion",
    "strength-ankle-plantarflexion": "Ankle plantarflexion",
    "reflex-patellar": "Patellar reflex",
    "reflex-achilles": "Achilles reflex",
    "reflex-medial-hamstring": "Medial hamstring reflex",
    "sensation-anterior-thigh": "Sensation anterior thigh",
    "sensation-medial-knee": "Sensation medial knee",
    "sensation-medial-ankle": "Sensation medial ankle",
    "sensation-dorsum-foot": "Sensation dorsum of foot",
    "sensation-lateral-foot": "Sensation lateral foot",
    "sensation-saddle": "Saddle sensation",
    "straight-leg-raise": "Straight leg raise",
    "crossed-straight-leg-raise": "Crossed SLR",
    "femoral-nerve-stretch": "Femoral nerve stretch",
    "anal-tone": "Anal tone",
    "post-void-residual": "Post-void residual",
    "babinski": "Babinski (extensor plantar)",
    "clonus": "Clonus",
}


@pytest.mark.parametrize(("concept", "label"), EXAM_LABELS.items())
def test_every_exam_finding_has_a_clinical_name(
    concept: str, label: str, knowledge: Knowledge
) -> None:
    obs = r.exam(concept, None, side="right")
    obs["code"]["coding"][0]["display"] = "vendor wording"
    assert describe(_one(obs, knowledge)) == f"{label} (right), 20 Nov 2026"


def test_evidence_lines(knowledge: Knowledge) -> None:
    def line(resource: dict[str, Any]) -> str:
        return describe(_one(resource, knowledge))

    words = [line(r.exam("reflex-achilles", g, side="left")) for g in range(5)]
    assert words == [
        f"Achilles reflex {g} ({w}) (left), 20 Nov 2026"
        for g, w in enumerate(("absent", "reduced", "normal", "brisk", "with clonus"))
    ]
    assert line(r.exam("strength-hip-flexion", 3, days=None)) == "Hip flexion 3/5, undated"
    assert line(r.exam("sensation-saddle", "reduced")) == "Saddle sensation reduced, 20 Nov 2026"
    assert line(r.exam("post-void-residual", (0.35, "L"))) == (
        "Post-void residual 350 mL, 20 Nov 2026"
    )
    assert line(r.temperature(101.3, "[degF]", days=0)) == "Body temperature 38.5 °C, 20 Nov 2026"
    # LOINC's long name is no clinical wording: the exam's own name is used.
    loinc = r.temperature(38.5, days=0)
    loinc["code"]["coding"][0]["display"] = "Body temperature:Temp:Pt:^Patient:Qn"
    assert line(loinc) == "Body temperature 38.5 °C, 20 Nov 2026"
    assert line(r.exam("babinski", True)) == "Babinski (extensor plantar) positive, 20 Nov 2026"
    assert line(r.exam("clonus", False)) == "Clonus negative, 20 Nov 2026"
    assert line(r.exam("clonus", None)) == "Clonus, 20 Nov 2026"
    # Findings that are not exam codes: the resource's own words, else the concept's name.
    retention = r.observed("267064002", value=False, days=0)
    assert line(retention) == "Urinary retention: absent, 20 Nov 2026"
    retention["code"]["text"] = " Incomplete emptying "
    retention["valueBoolean"] = True
    assert line(retention) == "Incomplete emptying: present, 20 Nov 2026"
    retention["code"] = {
        "text": "  ",
        "coding": [{"system": r.SCT, "code": "267064002", "display": "Retention of urine "}],
    }
    assert line(retention) == "Retention of urine: present, 20 Nov 2026"
    cond = r.condition("M54.16", days=None, recorded=14)
    assert line(cond) == "Radicular syndrome, recorded 6 Nov 2026"
    assert line(r.condition("M54.16", days=14, side="left")) == (
        "Radicular syndrome (left), since 6 Nov 2026"
    )
    assert line(r.condition("M54.16", days=None)) == "Radicular syndrome, undated"


def test_references_and_record_order(knowledge: Knowledge) -> None:
    anonymous = r.exam("babinski", True)
    del anonymous["id"]
    named = r.exam("clonus", True)
    empty_id = {**r.exam("babinski", True), "id": ""}
    numeric_id = {**r.exam("babinski", True), "id": 7}
    found = read_findings([anonymous, "junk", named, empty_id, numeric_id], knowledge)
    assert [(f.reference, f.order) for f in found] == [
        ("Observation", 0),
        (f"Observation/{named['id']}", 2),
        ("Observation", 3),
        ("Observation", 4),
    ]
    assert read_findings({"resourceType": "Bundle"}, knowledge) == ()  # type: ignore[arg-type]


def test_conflicting_clinical_status_codings_read_as_current(knowledge: Knowledge) -> None:
    # Safety first: a status coded both as history and as current is current.
    for current in ("active", "recurrence", "relapse"):
        cond = r.condition("C61")
        cond["clinicalStatus"] = {"coding": [{"code": "resolved"}, {"code": current}]}
        assert _one(cond, knowledge).current, current


def test_a_condition_is_cited_in_its_own_words(knowledge: Knowledge) -> None:
    cond = r.condition("M54.16", days=14)
    cond["code"]["text"] = "Sciatica, left leg"
    assert describe(_one(cond, knowledge)) == "Sciatica, left leg, since 6 Nov 2026"
    cond["code"] = {"coding": [{"system": r.ICD, "code": "M54.16", "display": "Radiculopathy"}]}
    assert describe(_one(cond, knowledge)) == "Radiculopathy, since 6 Nov 2026"


def test_malformed_codings_are_skipped_not_raised(knowledge: Knowledge) -> None:
    cond = r.condition("M54.16")
    cond["verificationStatus"] = {
        "coding": ["refuted", {"system": "x"}, {"code": 7}, {"code": "confirmed"}]
    }
    cond["clinicalStatus"] = {"coding": [None, {"code": ["resolved"]}]}
    finding = _one(cond, knowledge)
    assert (finding.concept, finding.current) == ("radicular-syndrome", True)


def test_any_mapping_reads_like_a_dict(knowledge: Knowledge) -> None:
    from types import MappingProxyType

    def frozen(value: Any) -> Any:
        if isinstance(value, dict):
            return MappingProxyType({k: frozen(v) for k, v in value.items()})
        if isinstance(value, list):
            return [frozen(v) for v in value]
        return value

    record = [
        r.condition("M54.32"),
        r.exam("reflex-achilles", 0, side="left"),
        r.temperature(101.3, "[degF]"),
        r.procedure("72148", r.CPT),
    ]
    assert read_findings([frozen(x) for x in record], knowledge) == read_findings(record, knowledge)
