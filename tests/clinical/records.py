"""Small builders of FHIR R4 JSON for the clinical tests (plain dicts, as an EHR sends them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
RADIX = "https://radix-cds.org/fhir/CodeSystem/neuro-exam"
SIDES = {"left": "7771000", "right": "24028007", "bilateral": "51440002"}
_ids = count(1)


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _id(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def _site(side: str | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {"coding": [{"system": SCT, "code": SIDES[side]}]}


def patient(birth: str = "1980-08-15") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": _id("pat"), "birthDate": birth}


def condition(
    code: str,
    system: str = ICD,
    *,
    days: float | None = 14,
    recorded: float | None = None,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    side: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "id": _id("cond"),
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/x"},
    }
    if clinical:
        res["clinicalStatus"] = {"coding": [{"code": clinical}]}
    if verification:
        res["verificationStatus"] = {"coding": [{"code": verification}]}
    if days is not None:
        res["onsetDateTime"] = ago(days)
    if recorded is not None:
        res["recordedDate"] = ago(recorded)
    if side:
        res["bodySite"] = [_site(side)]
    res.update(extra)
    return res


def exam(
    code: str,
    value: Any,
    *,
    side: str | None = None,
    days: float | None = 0,
    status: str = "final",
) -> dict[str, Any]:
    """A neuro-exam Observation: int → valueInteger, bool → valueBoolean, str → radix level."""
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _id("obs"),
        "status": status,
        "code": {"coding": [{"system": RADIX, "code": code}]},
    }
    if days is not None:
        res["effectiveDateTime"] = ago(days)
    if side:
        res["bodySite"] = _site(side)
    if isinstance(value, bool):
        res["valueBoolean"] = value
    elif isinstance(value, int):
        res["valueInteger"] = value
    elif isinstance(value, str):
        res["valueCodeableConcept"] = {"coding": [{"system": RADIX, "code": value}]}
    elif isinstance(value, tuple):
        res["valueQuantity"] = {"value": value[0], "code": value[1]}
    return res


def observed(
    code: str,
    system: str = SCT,
    *,
    value: Any = True,
    days: float | None = 1,
    status: str = "final",
    side: str | None = None,
) -> dict[str, Any]:
    """A symptom finding as an Observation: bool → valueBoolean, str → SNOMED value code."""
    res = exam(
        code, value if isinstance(value, bool) else None, side=side, days=days, status=status
    )
    res["code"] = {"coding": [{"system": system, "code": code}]}
    if isinstance(value, str):
        res["valueCodeableConcept"] = {"coding": [{"system": SCT, "code": value}]}
    return res


def temperature(value: float, unit: str = "Cel", *, days: float | None = 1) -> dict[str, Any]:
    res = {
        "resourceType": "Observation",
        "id": _id("temp"),
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "8310-5"}]},
        "valueQuantity": {"value": value, "code": unit, "system": "http://unitsofmeasure.org"},
    }
    if days is not None:
        res["effectiveDateTime"] = ago(days)
    return res


def procedure(
    code: str, system: str = SCT, *, days: float | None = 30, status: str = "completed"
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": _id("proc"),
        "status": status,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/x"},
    }
    if days is not None:
        res["performedDateTime"] = ago(days)
    return res


def service_request(
    code: str,
    system: str = SCT,
    *,
    status: str = "active",
    days: float | None = 30,
    priority: str = "routine",
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": _id("sr"),
        "status": status,
        "intent": "order",
        "priority": priority,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/x"},
    }
    if days is not None:
        res["authoredOn"] = ago(days)
    return res


def draft_mri(code: str = "72148", system: str = CPT, priority: str = "routine") -> dict:
    return service_request(code, system, status="draft", days=0, priority=priority)


def sciatica(days: float = 14, side: str | None = None) -> dict[str, Any]:
    code = {"left": "M54.32", "right": "M54.31"}.get(side or "", "M54.30")
    return condition(code, days=days)


def low_back_pain(days: float = 14) -> dict[str, Any]:
    return condition("M54.50", days=days)


def imaging_study(
    code: str = "72148", system: str = CPT, *, days: float | None = 90, status: str = "available"
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": _id("img"),
        "status": status,
        "subject": {"reference": "Patient/x"},
        "procedureCode": [{"coding": [{"system": system, "code": code}]}],
    }
    if days is not None:
        res["started"] = ago(days)
    return res


def diagnostic_report(
    code: str = "24967-2", system: str = LOINC, *, days: float | None = 90, status: str = "final"
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": _id("dr"),
        "status": status,
        "code": {"coding": [{"system": system, "code": code}]},
    }
    if days is not None:
        res["effectiveDateTime"] = ago(days)
    return res


def birth_years_ago(years: int, days: int = 0) -> str:
    """A birthDate exactly ``years`` calendar years before NOW, moved ``days`` later."""
    day = NOW.date().replace(year=NOW.year - years) + timedelta(days=days)
    return day.isoformat()
