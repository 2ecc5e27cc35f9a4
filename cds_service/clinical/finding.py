"""FHIR resources → ``Finding`` records, exactly as input-contract.md §1 reads them.

Plain dict access only (no fhir.resources on this path); anything unreadable is skipped or left
unknown, never guessed negative and never raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Literal, TypeGuard

from cds_service.clinical.evaluation import Evidence, Side
from cds_service.clinical.knowledge import Knowledge
from cds_service.fhir_json import as_list, concept_text, humanise, objects, reference

Level = Literal["normal", "reduced", "absent"]

STRENGTH: tuple[str, ...] = (
    "strength-hip-flexion",
    "strength-knee-extension",
    "strength-ankle-dorsiflexion",
    "strength-great-toe-extension",
    "strength-hip-abduction",
    "strength-ankle-inversion",
    "strength-ankle-eversion",
    "strength-ankle-plantarflexion",
)
REFLEXES: tuple[str, ...] = ("reflex-patellar", "reflex-achilles", "reflex-medial-hamstring")
SENSATIONS: tuple[str, ...] = (
    "sensation-anterior-thigh",
    "sensation-medial-knee",
    "sensation-medial-ankle",
    "sensation-dorsum-foot",
    "sensation-lateral-foot",
    "sensation-saddle",
)
SIGNS: tuple[str, ...] = (
    "straight-leg-raise",
    "crossed-straight-leg-raise",
    "femoral-nerve-stretch",
    "babinski",
    "clonus",
)
GRADED = (*SENSATIONS, "anal-tone")
EXAM = frozenset((*STRENGTH, *REFLEXES, *GRADED, *SIGNS, "post-void-residual"))
#: Concepts carried by orders and care records rather than by Conditions / Observations.
CARE = frozenset(
    {"conservative-care", "lumbar-mri", "lumbar-other-imaging", "prior-lumbar-surgery"}
)
# Prior lumbar surgery is also a finding of the contract's §2 table, so an Observation of it
# counts like a Condition; care given and imaging done only count from their own resources.
_NOT_OBSERVED = CARE - {"prior-lumbar-surgery"}
_VALUES = frozenset({"present", "absent", "normal", "reduced"})
_SIDES = frozenset({"left", "right", "bilateral"})
# What a Condition's or an Observation's code may name without it being a finding of that
# resource: values and sides qualify a finding; care and imaging count from their own resources.
# One set each, so a resource costs one set difference.
_NOT_CONDITION = _VALUES | _SIDES
_NOT_OBSERVATION = _NOT_CONDITION | _NOT_OBSERVED
_EMPTY: Mapping[str, Any] = MappingProxyType({})

_MAX_GRADE = {**dict.fromkeys(STRENGTH, 5), **dict.fromkeys(REFLEXES, 4)}
_OBSERVATION_COUNTS = frozenset({"final", "amended", "corrected", "preliminary"})
_NOT_COUNTED = frozenset({"refuted", "entered-in-error"})
_HISTORY = frozenset({"inactive", "resolved", "remission"})
# Which statuses make a care or imaging record count, per resource type and concept (contract §4).
_CARE_STATUS: Mapping[tuple[str, str], frozenset[str]] = {
    ("Procedure", "conservative-care"): frozenset({"completed", "in-progress"}),
    ("ServiceRequest", "conservative-care"): frozenset({"active", "completed"}),
    ("Procedure", "lumbar-mri"): frozenset({"completed"}),
    ("ServiceRequest", "lumbar-mri"): frozenset({"completed"}),
    ("Procedure", "prior-lumbar-surgery"): frozenset({"completed"}),
    ("ImagingStudy", "lumbar-mri"): frozenset({"available", "unknown"}),
    ("DiagnosticReport", "lumbar-mri"): frozenset(
        {"partial", "preliminary", "final", "amended", "corrected", "appended"}
    ),
}
_ICD = frozenset({"http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10"})
# The side digit of the ICD-10-CM codes the contract names (§1 "Side"). Read under the WHO URI
# too: EHRs send CM codes with it (the Argonaut PAMA examples do), and WHO's own site digits
# would make these codes "sciatica of the neck" or do not exist (M21.37x).
_ICD_SIDE: Mapping[str, Side] = {
    "M5431": "right",
    "M5441": "right",
    "M21371": "right",
    "M5432": "left",
    "M5442": "left",
    "M21372": "left",
}
_CELSIUS = frozenset({"cel", "°c", "c", "degc"})
_FAHRENHEIT = frozenset({"[degf]", "°f", "f", "degf"})
_MILLILITRES = {"ml": 1.0, "cm3": 1.0, "l": 1000.0, "dl": 100.0}
_AGE_DAYS = {
    **dict.fromkeys(("a", "yr", "yrs", "year", "years"), 365.25),
    **dict.fromkeys(("mo", "month", "months"), 30.4375),
    **dict.fromkeys(("wk", "week", "weeks"), 7.0),
    **dict.fromkeys(("d", "day", "days"), 1.0),
    "h": 1 / 24,
}
_INSTANT = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?)?)?"
)
# The shapes of _INSTANT that datetime.fromisoformat reads as it does: a full date, in ASCII
# digits (the only ones fromisoformat reads), nothing around it. The group is the zone.
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?", re.ASCII
)
_NOTHING: frozenset[str] = frozenset()

_EXAM_LABELS: Mapping[str, str] = {
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
    "body-temperature": "Body temperature",
}
_REFLEX_WORDS = ("absent", "reduced", "normal", "brisk", "with clonus")
# Resources whose finding states a value (present / absent) rather than asserting a problem.
_STATEMENTS = frozenset({"Observation", "DocumentReference"})


@dataclass(frozen=True)
class Finding:
    """One concept asserted (or looked for) by one resource, with its value, side and date."""

    concept: str
    reference: str  # "Observation/o1"
    resource_type: str
    #: Onset / effective / performed time; None when the resource carries no usable date.
    when: datetime | None
    #: True when ``when`` is only a Condition's recordedDate: "at least since".
    since: bool = False
    #: Conditions: clinicalStatus active/recurrence/relapse or absent; history otherwise.
    current: bool = True
    #: True present / positive; False looked for and absent / negative / normal; None unknown.
    present: bool | None = None
    grade: int | None = None  # MRC 0-5 or reflex 0-4
    level: Level | None = None  # sensation / anal tone
    quantity: float | None = None  # °C for body temperature, mL for post-void residual
    side: Side | None = None
    label: str = ""  # the resource's own wording, for evidence text
    order: int = 0  # position in the record: only breaks exact ties
    #: Only a note's finding (``NoteFinding``) has these: class defaults here, so the coded
    #: record's findings, built on every call, cost nothing more.
    noted: ClassVar[datetime | None] = None
    quote: ClassVar[str | None] = None

    # Written out, not generated: a frozen dataclass's __init__ sets each field through
    # object.__setattr__, which made building findings a fifth of reading a record (one per
    # Observation); one update of the instance's dict sets the same fields. Parameters and
    # defaults are the fields' (tests/clinical/test_finding.py holds them so).
    def __init__(
        self,
        concept: str,
        reference: str,
        resource_type: str,
        when: datetime | None,
        since: bool = False,
        current: bool = True,
        present: bool | None = None,
        grade: int | None = None,
        level: Level | None = None,
        quantity: float | None = None,
        side: Side | None = None,
        label: str = "",
        order: int = 0,
    ) -> None:
        self.__dict__.update(
            concept=concept,
            reference=reference,
            resource_type=resource_type,
            when=when,
            since=since,
            current=current,
            present=present,
            grade=grade,
            level=level,
            quantity=quantity,
            side=side,
            label=label,
            order=order,
        )

    @property
    def known(self) -> bool:
        return (
            self.present is not None
            or self.grade is not None
            or self.level is not None
            or self.quantity is not None
        )


@dataclass(frozen=True)
class NoteFinding(Finding):
    """A finding read from a clinical note (``resource_type`` DocumentReference): when the note
    was written (``when`` may be earlier: "3 weeks of sciatica") and the sentence it came from."""

    noted: datetime | None = None  # type: ignore[misc]
    quote: str | None = None  # type: ignore[misc]


def read_findings(
    record: Sequence[Any], knowledge: Knowledge, birth: datetime | None = None
) -> tuple[Finding, ...]:
    """Every counted finding in ``record``; malformed resources are skipped, never raised."""
    reader = _Reader(knowledge, birth)
    found: list[Finding] = []
    for order, resource in enumerate(record if isinstance(record, Sequence) else ()):
        if type(resource) is dict or isinstance(resource, Mapping):
            found += _read(resource, reader, order)
    return tuple(found)


class _Reader:
    """One record being read: each (system, code) is looked up and each date string parsed once.

    A record repeats both (vital signs share their LOINC codes, an exam's Observations share
    body sites, value codes and one instant), so a large record costs per distinct code and date
    rather than per mention. The caches live for one ``read_findings`` call only.
    """

    __slots__ = ("_codes", "_instants", "_knowledge", "birth")

    def __init__(self, knowledge: Knowledge, birth: datetime | None) -> None:
        self._knowledge = knowledge
        self.birth = birth
        self._codes: dict[tuple[Any, Any], frozenset[str]] = {}
        self._instants: dict[str, datetime | None] = {}

    def concepts_of(self, concept: Any) -> frozenset[str]:
        """What ``Knowledge.concepts_of`` answers: the union over a CodeableConcept's codings."""
        codings = _mapping(concept).get("coding")
        found = _NOTHING
        for coding in codings if isinstance(codings, list) else ():
            if type(coding) is dict or isinstance(coding, Mapping):
                key = (coding.get("system"), coding.get("code"))
                # Only strings name a concept (as the knowledge base answers too), and a list
                # in a malformed coding cannot be a dict key.
                if isinstance(key[0], str) and isinstance(key[1], str):
                    concepts = self._codes.get(key)
                    if concepts is None:
                        concepts = self._codes[key] = self._knowledge.concepts(*key)
                    found = found | concepts
        return found

    def instant(self, value: Any) -> datetime | None:
        """What ``parse_instant`` answers, each distinct string parsed once."""
        if not isinstance(value, str):
            return None
        if value not in self._instants:
            self._instants[value] = parse_instant(value)
        return self._instants[value]

    def first_instant(self, *values: Any) -> datetime | None:
        """The first of ``values`` that is a usable date."""
        for value in values:
            moment = self.instant(value)
            if moment is not None:
                return moment
        return None


# Each reader returns a list, not a generator: most resources give no finding, and an empty
# list costs less than two generator frames.
def _read(resource: Mapping[str, Any], reader: _Reader, order: int) -> list[Finding]:
    kind = resource.get("resourceType")
    if kind == "Condition":
        return _condition(resource, reader, order)
    if kind == "Observation":
        return _observation(resource, reader, order)
    if kind in ("Procedure", "ServiceRequest", "ImagingStudy", "DiagnosticReport"):
        return _care(resource, reader, order)
    return []


def _condition(resource: Mapping[str, Any], reader: _Reader, order: int) -> list[Finding]:
    if _codes(resource.get("verificationStatus")) & _NOT_COUNTED:
        return []
    concepts = reader.concepts_of(resource.get("code")) - _NOT_CONDITION
    if not concepts:
        return []
    clinical = _codes(resource.get("clinicalStatus"))
    current = not (clinical & _HISTORY) or bool(clinical & {"active", "recurrence", "relapse"})
    when = _onset(resource, reader)
    since = False
    if when is None:
        when, since = reader.instant(resource.get("recordedDate")), True
    side = _side(resource.get("bodySite"), reader) or _icd_side(resource.get("code"))
    return [
        Finding(
            concept,
            reference(resource) or "Condition",
            "Condition",
            when,
            since=since and when is not None,
            current=current,
            present=True,
            side=side,
            label=_label(resource),
            order=order,
        )
        for concept in sorted(concepts)
    ]


def _observation(resource: Mapping[str, Any], reader: _Reader, order: int) -> list[Finding]:
    if _code(resource.get("status")) not in _OBSERVATION_COUNTS:
        return []
    concepts = reader.concepts_of(resource.get("code")) - _NOT_OBSERVATION
    if not concepts:
        return []
    when = reader.first_instant(
        resource.get("effectiveDateTime"),
        _mapping(resource.get("effectivePeriod")).get("start"),
        resource.get("effectiveInstant"),
        resource.get("issued"),
    )
    side = _side(resource.get("bodySite"), reader) or _icd_side(resource.get("code"))
    return [
        Finding(
            concept,
            reference(resource) or "Observation",
            "Observation",
            when,
            side=side,
            label=_label(resource),
            order=order,
            **_value(concept, resource, reader),
        )
        for concept in sorted(concepts)
    ]


def _value(concept: str, resource: Mapping[str, Any], reader: _Reader) -> dict[str, Any]:
    """The observation's value read the way the concept needs it (contract §1 and §3)."""
    if "dataAbsentReason" in resource:
        return {}
    if concept in _MAX_GRADE:
        grade = _integer(resource)
        if grade is not None and 0 <= grade <= _MAX_GRADE[concept]:
            return {"grade": grade}
        return {}
    if concept == "post-void-residual":
        return _quantity(resource, _millilitres)
    if concept == "body-temperature":
        return _quantity(resource, _celsius)
    coded = reader.concepts_of(resource.get("valueCodeableConcept")) & _VALUES
    if concept in GRADED:
        # For a graded exam value "absent" means the sensation / tone is absent: a deficit.
        for level in ("absent", "reduced", "normal"):
            if level in coded:
                return {"level": level}
        return {}
    boolean = resource.get("valueBoolean")
    if isinstance(boolean, bool):
        return {"present": boolean}
    if "present" in coded:
        return {"present": True}
    if coded & {"absent", "normal"}:
        return {"present": False}
    if concept not in EXAM and not _has_value(resource):
        # A symptom Observation with no value asserts the finding (the problem-list pattern).
        return {"present": True}
    return {}


def _care(resource: Mapping[str, Any], reader: _Reader, order: int) -> list[Finding]:
    kind = str(resource.get("resourceType"))
    codes: list[Any] = [resource.get("code")]
    if kind == "ImagingStudy":
        codes = as_list(resource.get("procedureCode"))
    concepts: frozenset[str] = frozenset()
    for code in codes:
        concepts |= reader.concepts_of(code)
    status = _code(resource.get("status"))
    return [
        Finding(
            concept,
            reference(resource) or kind,
            kind,
            _care_date(resource, reader, kind, concept),
            present=True,
            label=_label(resource, codes),
            order=order,
        )
        for concept in sorted(concepts & CARE)
        if status in _CARE_STATUS.get((kind, concept), ())
    ]


def _care_date(
    resource: Mapping[str, Any], reader: _Reader, kind: str, concept: str
) -> datetime | None:
    if kind == "Procedure":
        return reader.first_instant(
            resource.get("performedDateTime"),
            _mapping(resource.get("performedPeriod")).get("start"),
            resource.get("occurrenceDateTime"),
            _mapping(resource.get("occurrencePeriod")).get("start"),
        )
    if kind == "ImagingStudy":
        return reader.instant(resource.get("started"))
    if kind == "DiagnosticReport":
        return reader.first_instant(
            resource.get("effectiveDateTime"),
            _mapping(resource.get("effectivePeriod")).get("start"),
            resource.get("issued"),
        )
    occurrence = (
        resource.get("occurrenceDateTime"),
        _mapping(resource.get("occurrencePeriod")).get("start"),
    )
    # A referral shows the symptoms existed when it was written; an MRI is dated when done.
    if concept == "lumbar-mri":
        return reader.first_instant(*occurrence, resource.get("authoredOn"))
    return reader.first_instant(resource.get("authoredOn"), *occurrence)


def parse_instant(value: Any) -> datetime | None:
    """A FHIR date / dateTime / instant (partial dates allowed) as an aware UTC datetime:
    ``parse_any_instant``'s answer, by ``parse_iso_instant`` when it can (nearly always)."""
    moment = parse_iso_instant(value)
    return moment if moment is not None else parse_any_instant(value)


def parse_iso_instant(value: Any) -> datetime | None:
    """A full date or dateTime in ASCII digits read by ``datetime.fromisoformat``, several times
    faster than the general reader and with its answer; None for anything else (partial dates,
    other digits, spaces, offsets of a day or more, no real moment), which it leaves to it."""
    match = _ISO.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    if match.lastindex is None:
        # fromisoformat would read a value without a zone as naive local time; FHIR's is UTC here.
        value += "Z" if "T" in value else "T00:00Z"
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    # The general reader drops a fraction of a second; fromisoformat keeps microseconds.
    return moment.replace(microsecond=0)


def parse_any_instant(value: Any) -> datetime | None:
    """Any FHIR date / dateTime / instant, partial dates allowed, as an aware UTC datetime:
    a year or a month is its first day, no zone is UTC, a fraction of a second is dropped;
    anything else (not a string, not that shape, not a real moment) is None, unknown. The
    general reader behind ``parse_instant``, and the definition its fast path is held to."""
    if not isinstance(value, str):
        return None
    match = _INSTANT.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=UTC,
        )
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            moment -= sign * offset
    except (ValueError, OverflowError):
        return None
    return moment


def as_utc(moment: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def describe(finding: Finding) -> str:
    """The clinician-readable line for a finding: what, value, side, date."""
    name = (
        _EXAM_LABELS.get(finding.concept) or finding.label or humanise(finding.concept).capitalize()
    )
    value = _value_text(finding)
    side = f" ({finding.side})" if finding.side else ""
    return f"{name}{value}{side}, {_date_text(finding)}"


def evidence(finding: Finding) -> Evidence:
    return Evidence(finding.reference, describe(finding), finding.quote)


def stated(finding: Finding) -> datetime | None:
    """When the statement was made: a note's date, else the finding's own time."""
    return finding.noted if finding.noted is not None else finding.when


def _value_text(finding: Finding) -> str:
    if finding.grade is not None:
        if finding.concept in REFLEXES:
            return f" {finding.grade} ({_REFLEX_WORDS[finding.grade]})"
        return f" {finding.grade}/5"
    if finding.level is not None:
        return f" {finding.level}"
    if finding.quantity is not None:
        unit = "°C" if finding.concept == "body-temperature" else "mL"
        return f" {finding.quantity:g} {unit}"
    if finding.resource_type not in _STATEMENTS or finding.present is None:
        return ""
    if finding.concept in SIGNS:
        return " positive" if finding.present else " negative"
    return ": present" if finding.present else ": absent"


def _date_text(finding: Finding) -> str:
    if finding.noted is not None:
        note = f"note of {finding.noted.day} {finding.noted:%b %Y}"
        if finding.when is not None and finding.when.date() != finding.noted.date():
            return f"since {finding.when.day} {finding.when:%b %Y} ({note})"
        return note
    if finding.when is None:
        return "undated"
    day = f"{finding.when.day} {finding.when:%b %Y}"
    if finding.since:
        return f"recorded {day}"
    return f"since {day}" if finding.resource_type == "Condition" else day


def _onset(resource: Mapping[str, Any], reader: _Reader) -> datetime | None:
    when = reader.first_instant(
        resource.get("onsetDateTime"), _mapping(resource.get("onsetPeriod")).get("start")
    )
    if when is not None or reader.birth is None:
        return when
    for age in (resource.get("onsetAge"), _mapping(resource.get("onsetRange")).get("low")):
        days = _age_days(age)
        if days is not None:
            try:
                return reader.birth + timedelta(days=days)
            except OverflowError:
                return None
    return None


def _age_days(age: Any) -> float | None:
    age = _mapping(age)
    value = age.get("value")
    if not _is_number(value) or not 0 <= value < 200 * 366:
        return None
    # UCUM code first; EHRs often send only the human unit ("years"). Age defaults to years.
    units = [u for u in (age.get("code"), age.get("unit")) if isinstance(u, str)] or ["a"]
    for unit in units:
        factor = _AGE_DAYS.get(unit.strip().lower())
        if factor is not None:
            return float(value) * factor
    return None


def _quantity(resource: Mapping[str, Any], convert: Any) -> dict[str, Any]:
    quantity = _mapping(resource.get("valueQuantity"))
    value = quantity.get("value")
    if not _is_number(value):
        return {}
    unit = quantity.get("code") or quantity.get("unit")
    converted = convert(float(value), unit.strip().lower() if isinstance(unit, str) else None)
    return {} if converted is None else {"quantity": converted}


def _celsius(value: float, unit: str | None) -> float | None:
    if unit in _CELSIUS:
        return value
    if unit in _FAHRENHEIT:
        return round((value - 32.0) * 5.0 / 9.0, 2)
    if unit is None:
        # No unit: no human body is 50 °C, and no living one is 50 °F.
        return value if value < 50 else round((value - 32.0) * 5.0 / 9.0, 2)
    return None


def _millilitres(value: float, unit: str | None) -> float | None:
    if unit is None:
        return value  # the contract's unit
    factor = _MILLILITRES.get(unit)
    return None if factor is None else value * factor


def _integer(resource: Mapping[str, Any]) -> int | None:
    value = resource.get("valueInteger")
    if value is None:
        value = _mapping(resource.get("valueQuantity")).get("value")
    if _is_number(value) and float(value).is_integer():
        return int(value)
    return None


def _has_value(resource: Mapping[str, Any]) -> bool:
    return any(key.startswith("value") for key in resource)


def _side(body_site: Any, reader: _Reader) -> Side | None:
    if body_site is None:
        return None  # the common case, answered without building sets
    sites = body_site if isinstance(body_site, list) else [body_site]
    sides: set[str] = set()
    for site in sites:
        sides |= reader.concepts_of(site) & _SIDES
    if "bilateral" in sides or {"left", "right"} <= sides:
        return "bilateral"
    if len(sides) == 1:
        return "left" if "left" in sides else "right"
    return None


def _icd_side(code: Any) -> Side | None:
    for coding in objects(code, "coding"):
        if _code(coding.get("system")) in _ICD:
            value = coding.get("code")
            if isinstance(value, str):
                side = _ICD_SIDE.get(value.strip().upper().replace(".", ""))
                if side:
                    return side
    return None


def _codes(concept: Any) -> frozenset[str]:
    return frozenset(
        coding["code"]
        for coding in objects(concept, "coding")
        if isinstance(coding.get("code"), str)
    )


def _label(resource: Mapping[str, Any], codes: Sequence[Any] | None = None) -> str:
    """How the record names the finding: the first of its codes that names itself."""
    for code in codes if codes is not None else [resource.get("code")]:
        text = concept_text(code)
        if text:
            return text
    return ""


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _mapping(value: Any) -> Mapping[str, Any]:
    # JSON gives plain dicts, or None for an absent element: exact tests spare the slow ABC
    # check on the hot path.
    if type(value) is dict:
        return value
    if value is None:
        return _EMPTY
    return value if isinstance(value, Mapping) else _EMPTY


def _code(value: Any) -> str | None:
    """A FHIR ``code`` element's value; anything else (a list, an object) is no code at all."""
    return value if isinstance(value, str) else None
