"""Override reasons offered when a card is dismissed (reference/clinical.md §5.4).

CDS Hooks 2.0 prescribes no code system, and the HL7 non-adherence codes (3.0 ballot) are too
generic to say *which* imaging criterion the clinician disagrees with, so Radix publishes its
own local code system; each code is listed here with its display.
"""

from __future__ import annotations

from cds_service.cards.types import Coding

SYSTEM = "https://radix-cds.org/fhir/CodeSystem/override-reason"

_DISPLAYS = {
    "red-flag-not-recorded": "A red flag is present but not recorded in structured data",
    "conservative-care-completed": "Conservative care completed, documented elsewhere",
    "procedure-planning": "Surgery or epidural injection being planned",
    "progressive-deficit": "Symptoms or deficit are progressing",
    "specialist-request": "Requested by a specialist",
    "imaging-unavailable-or-outdated": "Previous imaging unavailable or outdated",
    "patient-preference": "Patient preference after discussion",
    "emergency-care-arranged": "Emergency assessment or MRI already arranged",
    "finding-not-confirmed": "Red-flag finding not confirmed on assessment",
    "red-flag-investigated": "Red flag already investigated (imaging or specialist review)",
}

#: An imaging order rated not appropriate before conservative care (rules §4).
IMAGING_NOT_INDICATED = (
    "red-flag-not-recorded",
    "conservative-care-completed",
    "procedure-planning",
    "specialist-request",
    "patient-preference",
)
#: A repeat lumbar MRI within the prior-imaging window.
DUPLICATE_IMAGING = (
    "progressive-deficit",
    "imaging-unavailable-or-outdated",
    "procedure-planning",
    "specialist-request",
    "patient-preference",
)
EMERGENCY = ("emergency-care-arranged", "finding-not-confirmed")
PHYSIOTHERAPY_WITH_RED_FLAGS = ("red-flag-investigated", "finding-not-confirmed")


def codings(codes: tuple[str, ...]) -> list[Coding]:
    return [{"code": code, "system": SYSTEM, "display": _DISPLAYS[code]} for code in codes]
