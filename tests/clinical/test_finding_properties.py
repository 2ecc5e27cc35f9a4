"""Findings extraction never raises: arbitrary resource-shaped dicts in, findings or nothing out.

Bounded (modest examples, no deadline). Codings come from the real value sets, so the generated
resources reach the value readers rather than stopping at an unknown code.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.clinical.finding import read_findings
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
