"""Findings extraction never raises: arbitrary resource-shaped dicts in, findings or nothing out;
reading codes and dates once per record changes no finding; the fast date reader answers as the
general one.

Bounded (modest examples, no deadline). Codings come from the real value sets, so the generated
resources reach the value readers rather than stopping at an unknown code.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.clinical.finding import (
    parse_any_instant,
    parse_instant,
    parse_iso_instant,
    read_findings,
)
from cds_service.clinical.knowledge import Knowledge, load_knowledge

KNOWLEDGE = load_knowledge()
BOUNDED = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_KINDS = [
    "Condition",
    "Observation",
    "Procedure",
    "ServiceRequest",
    "ImagingStudy",
    "DiagnosticReport",
    "Patient",
    "",
    None,
    7,
]


def _known_codings(knowledge: Knowledge) -> list[dict[str, str]]:
    codings = []
    for concept in knowledge.concept_ids:
        for entry in knowledge.entries(concept):
            codings.append({"system": entry.system, "code": entry.code})
    return codings


_CODINGS = _known_codings(KNOWLEDGE)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2026-11-06", "2026", "2026-13-40", "2026-11-06T09:10:00Z", "T", "1e9"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_coding = st.one_of(
    st.sampled_from(_CODINGS),
    st.fixed_dictionaries({"system": _json, "code": _json}),
    _json,
)
_concept = st.one_of(
    st.fixed_dictionaries({"coding": st.lists(_coding, max_size=3)}, optional={"text": _json}),
    _json,
)
_FIELDS: dict[str, Any] = {
    "id": st.one_of(st.text(max_size=8), _json),
    "status": st.one_of(
        st.sampled_from(["final", "amended", "preliminary", "completed"]), _scalars, _json
    ),
    "code": _concept,
    "procedureCode": st.one_of(st.lists(_concept, max_size=2), _json),
    "clinicalStatus": _concept,
    "verificationStatus": _concept,
    "bodySite": st.one_of(st.lists(_concept, max_size=2), _concept),
    "valueBoolean": _json,
    "valueInteger": _json,
    "valueQuantity": st.one_of(
        st.fixed_dictionaries({"value": _scalars, "unit": _json}, optional={"code": _json}), _json
    ),
    "valueCodeableConcept": _concept,
    "dataAbsentReason": _json,
    "onsetDateTime": _json,
    "onsetAge": st.one_of(st.fixed_dictionaries({"value": _scalars, "unit": _json}), _json),
    "onsetPeriod": st.one_of(st.fixed_dictionaries({"start": _json}), _json),
    "onsetRange": st.one_of(st.fixed_dictionaries({"low": _json}), _json),
    "recordedDate": _json,
    "effectiveDateTime": _json,
    "effectivePeriod": st.one_of(st.fixed_dictionaries({"start": _json}), _json),
    "effectiveInstant": _json,
    "issued": _json,
    "performedDateTime": _json,
    "performedPeriod": _json,
    "occurrenceDateTime": _json,
    "occurrencePeriod": _json,
    "authoredOn": _json,
    "started": _json,
}


@st.composite
def _resources(draw: Any) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(sorted(_FIELDS)), unique=True, max_size=8))
    resource: dict[str, Any] = {"resourceType": draw(st.sampled_from(_KINDS))}
    for name in chosen:
        resource[name] = draw(_FIELDS[name])
    return resource


_records = st.lists(st.one_of(_resources(), _json), max_size=6)
_births = st.one_of(st.none(), st.datetimes(timezones=st.just(UTC)))


@BOUNDED
@given(_records, _births)
def test_any_record_reads_without_raising(record: list[Any], birth: datetime | None) -> None:
    findings = read_findings(record, KNOWLEDGE, birth)
    concepts = set(KNOWLEDGE.concept_ids)
    for finding in findings:
        assert finding.concept in concepts
        assert finding.when is None or finding.when.utcoffset() is not None
        assert finding.quantity is None or math.isfinite(finding.quantity)
        assert finding.grade is None or 0 <= finding.grade <= 5
        assert finding.level in (None, "normal", "reduced", "absent")
        assert isinstance(finding.reference, str) and isinstance(finding.label, str)


@BOUNDED
@given(st.lists(_resources(), min_size=1, max_size=4))
def test_no_value_is_never_read_as_a_negative(record: list[dict[str, Any]]) -> None:
    """Unknown is never negative: without a value[x], nothing reads as absent or normal."""
    for resource in record:
        for key in [k for k in resource if k.startswith("value")]:
            del resource[key]
    for finding in read_findings(record, KNOWLEDGE):
        assert finding.present is not False
        assert finding.grade is None and finding.level is None and finding.quantity is None


@BOUNDED
@given(st.lists(_resources(), min_size=1, max_size=4))
def test_a_data_absent_reason_leaves_an_observation_unknown(record: list[dict[str, Any]]) -> None:
    for resource in record:
        resource["resourceType"] = "Observation"
        resource["dataAbsentReason"] = {"text": "not performed"}
    assert not any(f.known for f in read_findings(record, KNOWLEDGE) if f.present is not True)


@BOUNDED
@given(_json)
def test_a_record_that_is_not_a_list_of_resources_reads_as_nothing_or_findings(value: Any) -> None:
    assert isinstance(read_findings(value, KNOWLEDGE), tuple)


@pytest.mark.parametrize("status", [["final"], {"code": "final"}])
def test_an_unhashable_status_is_skipped_not_raised(status: Any) -> None:
    code = {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]}
    resource = {"resourceType": "Observation", "status": status, "code": code}
    assert read_findings([resource], KNOWLEDGE) == ()


@BOUNDED
@given(_records, _births)
def test_a_record_reads_as_its_resources_each_read_alone(
    record: list[Any], birth: datetime | None
) -> None:
    """Each code is looked up and each date parsed once per record: sharing them across
    resources (here every resource twice) changes no finding."""
    doubled = record + record
    alone = tuple(
        replace(finding, order=order)
        for order, resource in enumerate(doubled)
        for finding in read_findings([resource], KNOWLEDGE, birth)
    )
    assert read_findings(doubled, KNOWLEDGE, birth) == alone


# --- dates: the fast reader (datetime.fromisoformat) against the general one -----------------

DATES = settings(max_examples=600, deadline=None)
_OTHER_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")  # Arabic-Indic: \d, but not ASCII


def _padded(low: int, high: int, width: int = 2) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: str(n).zfill(width))


_zones = st.one_of(
    st.sampled_from(["", "Z"]),
    st.builds(
        lambda sign, hours, minutes, colon: f"{sign}{hours}{':' if colon else ''}{minutes}",
        st.sampled_from("+-"),
        _padded(0, 30),
        _padded(0, 99),
        st.booleans(),
    ),
    st.sampled_from(["z", "+5:30", "+05", "+05:30:00", " Z", "UTC", "+"]),
)


@st.composite
def _fhir_dates(draw: Any) -> str:
    """FHIR date / dateTime text: often valid, often a field out of range, cut short,
    misshapen, in other digits or padded."""
    year = draw(
        st.one_of(
            _padded(0, 9999, 4),
            st.sampled_from(["0001", "9999"]),
            st.text("0123456789", min_size=3, max_size=5),
        )
    )
    fraction = draw(
        st.one_of(
            st.just(""),
            st.text("0123456789", min_size=1, max_size=9).map(lambda digits: "." + digits),
            st.just("."),
        )
    )
    parts = [
        year,
        "-" + draw(_padded(0, 13)),
        "-" + draw(_padded(0, 32)),
        f"T{draw(_padded(0, 25))}:{draw(_padded(0, 61))}",
        f":{draw(_padded(0, 61))}{fraction}",
    ]
    text = "".join(parts[: draw(st.integers(1, len(parts)))]) + draw(_zones)
    mangle = draw(st.sampled_from(["", "", "", "", "pad", "space", "t", "digits", "insert"]))
    if mangle == "pad":
        return f" {text}\n"
    if mangle == "space":
        return text.replace("T", " ")
    if mangle == "t":
        return text.lower()
    if mangle == "digits":
        return text.translate(_OTHER_DIGITS)
    if mangle == "insert":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.characters()) + text[at:]
    return text


@st.composite
def _iso_dates(draw: Any) -> str:
    """A real moment written the ways EHRs write it: a date, or a dateTime with or without
    seconds, fraction and zone."""
    moment = draw(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)))
    shape = draw(st.sampled_from(["date", "minutes", "seconds", "fraction"]))
    if shape == "date":
        return moment.date().isoformat()
    text = moment.isoformat(timespec="minutes" if shape == "minutes" else "seconds")
    if shape == "fraction":
        text += "." + draw(st.text("0123456789", min_size=1, max_size=9))
    offset = draw(st.integers(-23 * 60 - 59, 23 * 60 + 59))
    zone = draw(st.sampled_from(["", "Z", "colon", "plain"]))
    if zone in ("colon", "plain"):
        hours, minutes = divmod(abs(offset), 60)
        separator = ":" if zone == "colon" else ""
        return f"{text}{'-' if offset < 0 else '+'}{hours:02d}{separator}{minutes:02d}"
    return text + zone


def _exactly(moment: datetime | None) -> tuple[str, object] | None:
    """The moment and its zone object: equal aware datetimes may still differ in zone."""
    return None if moment is None else (moment.isoformat(), moment.tzinfo)


@DATES
@given(st.one_of(_fhir_dates(), _iso_dates(), st.text(max_size=30)))
def test_the_fast_date_reader_answers_as_the_general_one_or_declines(text: str) -> None:
    general = _exactly(parse_any_instant(text))
    assert _exactly(parse_instant(text)) == general
    fast = parse_iso_instant(text)
    assert fast is None or _exactly(fast) == general


@DATES
@given(_iso_dates())
def test_the_fast_date_reader_reads_every_full_date_and_datetime(text: str) -> None:
    """It is the path nearly every date takes: it must not decline the usual shapes."""
    fast = parse_iso_instant(text)
    assert fast is not None and _exactly(fast) == _exactly(parse_any_instant(text))
    assert fast.tzinfo is UTC and fast.microsecond == 0


@pytest.mark.parametrize(
    "text",
    [
        "2026",
        "2026-11",
        " 2026-11-06",
        "2026-11-06T09:10:00+24:00",
        "٢٠٢٦-١١-٠٦",
        "2026-02-30",
        "0001-01-01T00:30:00+01:00",
        "2026-11-06T09:10:60Z",
        None,
        20261106,
    ],
)
def test_the_fast_date_reader_leaves_the_rest_to_the_general_one(text: object) -> None:
    assert parse_iso_instant(text) is None
