"""Radix's own clinical cases: whole patient records, the hook an EHR fires, and the answer the
rules require (docs/clinical-rules.md).

They are built here, in code, by the project, so that a clone with nothing beside it tests the
engine, the cards and the HTTP stack end to end. Each is a ``Vignette`` (tests/vignettes.py), the
shape the developers' shared case set also uses, so one runner reads both; when that set is
present it runs in addition (``shared_vignettes``).

Records look like an EHR's: a Patient with a name and an MRN, the visit's Encounter, categories,
codings with displays, vital signs and unrelated problems as noise, the healthy leg examined too.
Every date is relative to ``AS_OF``; ``Vignette.shifted`` moves a case to any other day.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any

from cds_service.clinical.red_flag import TIERS
from tests.clinical.records import CPT, ICD, LOINC, SCT
from tests.clinical.records import NOW as AS_OF
from tests.clinical.records import RADIX as EXAM
from tests.vignettes import Vignette

UCUM = "http://unitsofmeasure.org"
_SIDES = {
    "left": ("7771000", "Left"),
    "right": ("24028007", "Right"),
    "bilateral": ("51440002", "Bilateral"),
}
_EXAM_VALUES = {"normal": "Normal", "reduced": "Reduced", "absent": "Absent"}
_EXAM_NAMES = {
    "strength-hip-flexion": "Hip flexion strength (MRC)",
    "strength-knee-extension": "Knee extension strength (MRC)",
    "strength-ankle-dorsiflexion": "Ankle dorsiflexion strength (MRC)",
    "strength-great-toe-extension": "Great toe extension strength (MRC)",
    "strength-hip-abduction": "Hip abduction strength (MRC)",
    "strength-ankle-plantarflexion": "Ankle plantarflexion strength (MRC)",
    "reflex-patellar": "Patellar reflex",
    "reflex-achilles": "Achilles reflex",
    "sensation-medial-ankle": "Sensation, medial ankle",
    "sensation-dorsum-foot": "Sensation, dorsum of foot",
    "sensation-lateral-foot": "Sensation, lateral foot",
    "sensation-saddle": "Sensation, saddle area",
    "straight-leg-raise": "Straight leg raise",
    "femoral-nerve-stretch": "Femoral nerve stretch test",
    "post-void-residual": "Post-void residual volume",
}


def _instant(days: float) -> str:
    return (AS_OF - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(days: float) -> str:
    return (AS_OF - timedelta(days=days)).date().isoformat()


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _category(system: str, code: str, display: str | None = None) -> list[dict[str, Any]]:
    coding = {"system": system, "code": code, **({"display": display} if display else {})}
    return [{"coding": [coding], **({"text": display} if display else {})}]


def expect(disposition: str, *flags: str, **more: Any) -> dict[str, Any]:
    """The answer: the disposition and exactly these red flags (every other one absent)."""
    tiers = {TIERS[f] for f in flags}
    tier = "emergency" if "emergency" in tiers else "urgent" if tiers else "none"
    return {
        "disposition": disposition,
        "tier": tier,
        "redFlags": list(flags),
        "absentRedFlags": [f for f in TIERS if f not in flags],
        **more,
    }


@dataclass
class Record:
    """One patient's chart as an EHR's FHIR server holds it, built finding by finding."""

    key: str
    birth_date: str
    gender: str
    name: tuple[str, str]
    resources: list[dict[str, Any]] = field(default_factory=list)
    drafts: list[dict[str, Any]] = field(default_factory=list)
    _count: int = 0

    def __post_init__(self) -> None:
        family, given = self.name
        self.resources += [
            {
                "resourceType": "Patient",
                "id": self.patient_id,
                "active": True,
                "identifier": [
                    {
                        "use": "usual",
                        "type": _concept(
                            "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "MR",
                            "Medical record number",
                        ),
                        "system": "https://ehr.example.org/mrn",
                        "value": f"MRN-{self.key.upper()}",
                    }
                ],
                "name": [{"use": "official", "family": family, "given": [given]}],
                "gender": self.gender,
                "birthDate": self.birth_date,
            },
            {
                "resourceType": "Encounter",
                "id": f"{self.key}-enc",
                "status": "in-progress",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "ambulatory",
                },
                "subject": self.subject,
                "period": {"start": _instant(1 / 24)},
            },
        ]

    @property
    def patient_id(self) -> str:
        return f"{self.key}-pat"

    @property
    def subject(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.patient_id}"}

    def _next_id(self, kind: str) -> str:
        self._count += 1
        return f"{self.key}-{kind}{self._count}"

    def _add(self, resource: dict[str, Any]) -> Record:
        self.resources.append(resource)
        return self

    def condition(
        self,
        code: str,
        display: str,
        system: str = ICD,
        *,
        days: float | None = 14,
        clinical: str = "active",
        side: str | None = None,
    ) -> Record:
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self._next_id("cond"),
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": clinical,
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "category": _category(
                "http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item"
            ),
            "code": _concept(system, code, display),
            "subject": self.subject,
            "recordedDate": _instant(days if days is not None else 400),
        }
        if days is not None:
            resource["onsetDateTime"] = _day(days)
        if side:
            resource["bodySite"] = [_concept(SCT, *_SIDES[side])]
        return self._add(resource)

    def exam(self, code: str, value: Any, side: str | None = None, *, days: float = 0) -> Record:
        """A neurological examination finding of the project's neuro-exam code system."""
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self._next_id("exam"),
            "status": "final",
            "category": _category(
                "http://terminology.hl7.org/CodeSystem/observation-category", "exam", "Exam"
            ),
            "code": _concept(EXAM, code, _EXAM_NAMES[code]),
            "subject": self.subject,
            "effectiveDateTime": _instant(days + 0.03),
        }
        if side:
            resource["bodySite"] = _concept(SCT, *_SIDES[side])
        if isinstance(value, bool):
            resource["valueBoolean"] = value
        elif isinstance(value, int):
            resource["valueInteger"] = value
        elif isinstance(value, str):
            resource["valueCodeableConcept"] = _concept(EXAM, value, _EXAM_VALUES[value])
        else:
            amount, unit = value
            resource["valueQuantity"] = {
                "value": amount,
                "unit": unit,
                "system": UCUM,
                "code": unit,
            }
        return self._add(resource)

    def both_legs(self, code: str, affected: Any, healthy: Any, side: str) -> Record:
        """The same test on the affected and on the healthy leg, as a full examination has it."""
        other = "right" if side == "left" else "left"
        return self.exam(code, affected, side).exam(code, healthy, other)

    def vital_signs(self, visits: int = 3, temperature: float = 36.8) -> Record:
        """Routine vital signs at monthly visits: noise for every rule but fever."""
        for visit in range(visits):
            days = 2 + visit * 30
            for code, display, value, unit in (
                ("8310-5", "Body temperature", temperature, "Cel"),
                ("8867-4", "Heart rate", 72 + visit, "/min"),
                ("29463-7", "Body weight", 78.4, "kg"),
            ):
                self._add(
                    {
                        "resourceType": "Observation",
                        "id": self._next_id("vs"),
                        "status": "final",
                        "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]},
                        "category": _category(
                            "http://terminology.hl7.org/CodeSystem/observation-category",
                            "vital-signs",
                            "Vital Signs",
                        ),
                        "code": _concept(LOINC, code, display),
                        "subject": self.subject,
                        "effectiveDateTime": _instant(days),
                        "valueQuantity": {
                            "value": value,
                            "unit": unit,
                            "system": UCUM,
                            "code": unit,
                        },
                        # A vendor extension, as EHRs add them: read past, never trusted.
                        "extension": [
                            {
                                "url": "https://ehr.example.org/fhir/device-id",
                                "valueString": f"VS-{visit}",
                            }
                        ],
                    }
                )
        return self

    def physiotherapy(self, days: float, as_referral: bool = False) -> Record:
        """Conservative care started ``days`` ago, as a Procedure or a completed referral."""
        code = _concept(SCT, "308447003", "Referral to physiotherapist")
        if as_referral:
            return self._add(
                {
                    "resourceType": "ServiceRequest",
                    "id": self._next_id("sr"),
                    "status": "completed",
                    "intent": "order",
                    "priority": "routine",
                    "code": code,
                    "subject": self.subject,
                    "authoredOn": _instant(days),
                }
            )
        return self._add(
            {
                "resourceType": "Procedure",
                "id": self._next_id("proc"),
                "status": "completed",
                "code": _concept(SCT, "410160006", "Physiotherapy"),  # contract §4
                "subject": self.subject,
                "performedDateTime": _instant(days),
            }
        )

    def prior_mri(self, days: float, as_resource: str) -> Record:
        """A lumbar MRI done ``days`` ago, as the EHR records it."""
        code = _concept(CPT, "72148", "MRI lumbar spine without contrast")
        kind = as_resource
        resource: dict[str, Any] = {
            "resourceType": kind,
            "id": self._next_id(kind.lower()[:4]),
            "subject": self.subject,
        }
        if kind == "ImagingStudy":
            resource.update(status="available", started=_instant(days), procedureCode=[code])
        elif kind == "DiagnosticReport":
            resource.update(
                status="final",
                code=code,
                effectiveDateTime=_instant(days),
                issued=_instant(days - 0.5),
                conclusion="Disc protrusion at L4-L5.",
                category=_category(LOINC, "LP29684-5", "Radiology"),
            )
        else:
            resource.update(status="completed", code=code, performedDateTime=_instant(days))
        return self._add(resource)

    def note(
        self,
        text: str,
        *,
        days: float = 0.03,
        content_type: str = "text/plain",
        status: str = "current",
        doc_status: str | None = "final",
        by_url: bool = False,
    ) -> Record:
        """A clinical note (DocumentReference) as an EHR keeps it: inline, or as a Binary."""
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        ident = self._next_id("doc")
        attachment: dict[str, Any] = {"contentType": content_type, "title": "Progress note"}
        if by_url:
            binary = f"{ident}-bin"
            self._add(
                {"resourceType": "Binary", "id": binary, "contentType": content_type, "data": data}
            )
            attachment["url"] = f"Binary/{binary}"
        else:
            attachment["data"] = data
        resource: dict[str, Any] = {
            "resourceType": "DocumentReference",
            "id": ident,
            "status": status,
            "type": _concept(LOINC, "11506-3", "Progress note"),
            "category": _category(
                "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                "clinical-note",
                "Clinical Note",
            ),
            "subject": self.subject,
            "date": _instant(days),
            "author": [{"reference": f"Practitioner/{self.key}-pr"}],
            "content": [{"attachment": attachment}],
        }
        if doc_status:
            resource["docStatus"] = doc_status
        return self._add(resource)

    def draft(
        self, code: str, display: str, system: str = CPT, *, priority: str = "routine"
    ) -> str:
        """A draft order of today's visit; returns its reference."""
        ident = self._next_id("draft")
        self.drafts.append(
            {
                "resourceType": "ServiceRequest",
                "id": ident,
                "status": "draft",
                "intent": "order",
                "priority": priority,
                "code": _concept(system, code, display),
                "subject": self.subject,
                "encounter": {"reference": f"Encounter/{self.key}-enc"},
                "authoredOn": _instant(0.01),
                "requester": {"reference": f"Practitioner/{self.key}-pr"},
            }
        )
        return f"ServiceRequest/{ident}"

    def draft_medication(self, text: str) -> str:
        ident = self._next_id("med")
        self.drafts.append(
            {
                "resourceType": "MedicationRequest",
                "id": ident,
                "status": "draft",
                "intent": "order",
                "medicationCodeableConcept": {"text": text},
                "subject": self.subject,
            }
        )
        return f"MedicationRequest/{ident}"

    def case(
        self,
        description: str,
        hook: str,
        expected: dict[str, Any],
        selections: Iterable[str] | None = None,
    ) -> Vignette:
        context: dict[str, Any] = {
            "userId": f"Practitioner/{self.key}-pr",
            "patientId": self.patient_id,
            "encounterId": f"{self.key}-enc",
        }
        if hook != "patient-view":
            context["draftOrders"] = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": d} for d in self.drafts],
            }
        if hook == "order-select":
            context["selections"] = list(selections or ())
        return Vignette(
            self.key, None, description, AS_OF, hook, context, list(self.resources), expected
        )


def _born(years: int) -> str:
    return date(AS_OF.year - years, 3, 14).isoformat()


def _l5_left_acute() -> Vignette:
    chart = Record("l5-left-acute", _born(41), "female", ("Okafor", "Ada"))
    chart.condition("M54.32", "Sciatica, left side", days=21)
    chart.both_legs("strength-great-toe-extension", 4, 5, "left")
    chart.both_legs("strength-hip-abduction", 4, 5, "left")
    chart.both_legs("straight-leg-raise", True, False, "left")
    chart.both_legs("reflex-achilles", 2, 2, "left")
    chart.vital_signs()
    return chart.case(
        "Sciatica for 3 weeks, left great-toe extension and hip abduction 4/5, SLR positive on"
        " the left -> physiotherapy, left L5",
        "patient-view",
        expect("physiotherapy", root="L5", side="left"),
    )


def _s1_right_after_physiotherapy() -> Vignette:
    chart = Record("s1-right-after-pt", _born(47), "male", ("Lindqvist", "Erik"))
    chart.condition("M54.41", "Lumbago with sciatica, right side", days=70)
    chart.physiotherapy(days=56, as_referral=True)
    chart.both_legs("reflex-achilles", 0, 2, "right")
    chart.both_legs("strength-ankle-plantarflexion", 4, 5, "right")
    chart.both_legs("straight-leg-raise", True, False, "right")
    return chart.case(
        "Right sciatica for 10 weeks despite 8 weeks of physiotherapy, absent right ankle jerk"
        " and weak plantarflexion -> MRI, right S1",
        "patient-view",
        expect("mri", root="S1", side="right"),
    )


def _l4_left_with_noise() -> Vignette:
    chart = Record("l4-left-noise", _born(55), "male", ("Haddad", "Omar"))
    chart.condition("I10", "Essential (primary) hypertension", days=900)
    chart.condition("E78.5", "Hyperlipidemia, unspecified", days=600)
    chart.condition("M54.16", "Radiculopathy, lumbar region", days=18, side="left")
    chart.both_legs("reflex-patellar", 1, 2, "left")
    chart.both_legs("strength-knee-extension", 4, 5, "left")
    chart.both_legs("sensation-medial-ankle", "reduced", "normal", "left")
    chart.both_legs("femoral-nerve-stretch", True, False, "left")
    chart.both_legs("strength-ankle-plantarflexion", 5, 5, "left")
    chart.vital_signs(visits=8)
    return chart.case(
        "Left L4 among vital signs, unrelated problems and vendor extensions: reduced knee jerk,"
        " weak knee extension, numb medial ankle -> physiotherapy, left L4",
        "patient-view",
        expect("physiotherapy", root="L4", side="left"),
    )


def _ces_urinary_retention() -> Vignette:
    chart = Record("ces-retention", _born(38), "female", ("Moreau", "Claire"))
    chart.condition("M54.42", "Lumbago with sciatica, left side", days=12)
    chart.condition("R33.9", "Retention of urine, unspecified", days=1)
    chart.exam("sensation-saddle", "reduced")
    chart.exam("post-void-residual", (450, "mL"))
    chart.both_legs("straight-leg-raise", True, False, "left")
    return chart.case(
        "Back pain with left sciatica, urinary retention since yesterday, reduced saddle"
        " sensation and a post-void residual of 450 mL -> emergency referral",
        "patient-view",
        expect("emergency-referral", "cauda-equina"),
    )


def _foot_drop() -> Vignette:
    chart = Record("foot-drop", _born(52), "male", ("Novak", "Petr"))
    chart.condition("M54.32", "Sciatica, left side", days=9)
    chart.both_legs("strength-ankle-dorsiflexion", 2, 5, "left")
    chart.both_legs("strength-great-toe-extension", 2, 5, "left")
    return chart.case(
        "Left sciatica with ankle dorsiflexion 2/5 -> emergency referral (severe motor deficit)",
        "patient-view",
        expect("emergency-referral", "severe-motor-deficit"),
    )


def _cancer_history() -> Vignette:
    chart = Record("cancer-history", _born(63), "female", ("Adeyemi", "Grace"))
    chart.condition("M54.50", "Low back pain, unspecified", days=25)
    chart.condition(
        "Z85.3", "Personal history of malignant neoplasm of breast", days=1500, clinical="resolved"
    )
    chart.vital_signs()
    return chart.case(
        "Low back pain for 3 weeks and a history of breast cancer -> urgent imaging",
        "patient-view",
        expect("urgent-imaging", "malignancy"),
    )


def _osteoporosis_without_back_pain() -> Vignette:
    chart = Record("osteoporosis-76", _born(76), "female", ("Ferreira", "Ana"))
    chart.condition(
        "M81.0", "Age-related osteoporosis without current pathological fracture", days=800
    )
    chart.condition("I10", "Essential (primary) hypertension", days=3000)
    chart.vital_signs()
    return chart.case(
        "Osteoporosis at 76 with nothing about the back: red flags need back pain -> no card",
        "patient-view",
        expect("none", noCards=True, noLocalisation=True),
    )


def _hypertension_only() -> Vignette:
    chart = Record("hypertension", _born(59), "male", ("Kowalski", "Jan"))
    chart.condition("I10", "Essential (primary) hypertension", days=700)
    chart.vital_signs()
    return chart.case(
        "Hypertension and vital signs only -> no card",
        "patient-view",
        expect("none", noCards=True, noLocalisation=True),
    )


def _specialist_review_after_mri() -> Vignette:
    chart = Record("specialist-review", _born(50), "male", ("Schneider", "Lukas"))
    chart.condition("M54.41", "Lumbago with sciatica, right side", days=84)
    chart.physiotherapy(days=70, as_referral=True)
    chart.prior_mri(days=120, as_resource="DiagnosticReport")
    chart.both_legs("reflex-achilles", 0, 2, "right")
    chart.both_legs("straight-leg-raise", True, False, "right")
    return chart.case(
        "Right S1 radiculopathy for 12 weeks after physiotherapy, lumbar MRI 4 months ago"
        " (DiagnosticReport) -> specialist review, no repeat MRI",
        "patient-view",
        expect("specialist-review", root="S1", side="right"),
    )


def _mri_selected_too_early() -> Vignette:
    chart = Record("mri-too-early", _born(36), "female", ("Rossi", "Giulia"))
    chart.condition("M54.32", "Sciatica, left side", days=14)
    chart.both_legs("straight-leg-raise", True, False, "left")
    mri = chart.draft("72148", "MRI lumbar spine without contrast")
    medication = chart.draft_medication("naproxen 500 mg")
    return chart.case(
        "order-select: lumbar MRI selected for sciatica of 2 weeks, no physiotherapy ->"
        " not appropriate, swap to physiotherapy",
        "order-select",
        expect(
            "physiotherapy",
            orderRatings={mri: "not-appropriate", medication: None},
            expectWarningCard=True,
        ),
        selections=[mri, medication],
    )


def _mri_selected_after_physiotherapy() -> Vignette:
    chart = Record("mri-after-pt", _born(44), "male", ("Jansen", "Pieter"))
    chart.condition("M54.16", "Radiculopathy, lumbar region", days=63)
    chart.physiotherapy(days=49)
    chart.both_legs("strength-great-toe-extension", 4, 5, "right")
    chart.both_legs("straight-leg-raise", True, False, "right")
    mri = chart.draft("72148", "MRI lumbar spine without contrast")
    return chart.case(
        "order-select: lumbar MRI after 9 weeks of radiculopathy and 7 weeks of physiotherapy"
        " -> appropriate, the rating alone answers",
        "order-select",
        expect("mri", orderRatings={mri: "appropriate"}, noCards=True),
        selections=[mri],
    )


def _mri_selected_after_recent_mri() -> Vignette:
    chart = Record("repeat-mri", _born(58), "female", ("Nakamura", "Yuki"))
    chart.condition("M54.42", "Lumbago with sciatica, left side", days=100)
    chart.physiotherapy(days=90)
    chart.prior_mri(days=75, as_resource="ImagingStudy")
    unselected = chart.draft("72100", "X-ray lumbar spine, 2 or 3 views")
    mri = chart.draft("72148", "MRI lumbar spine without contrast")
    return chart.case(
        "order-select: a second lumbar MRI 11 weeks after the first (ImagingStudy), nothing new"
        " -> not appropriate (duplicate); the unselected X-ray is not rated",
        "order-select",
        expect(
            "specialist-review",
            orderRatings={mri: "not-appropriate", unselected: None},
            expectWarningCard=True,
        ),
        selections=[mri],
    )


def _mri_signed_after_recent_mri() -> Vignette:
    chart = Record("sign-repeat-mri", _born(61), "male", ("Ivanov", "Dmitri"))
    chart.condition("M54.41", "Lumbago with sciatica, right side", days=90)
    chart.physiotherapy(days=80, as_referral=True)
    chart.prior_mri(days=60, as_resource="Procedure")
    mri = chart.draft("72148", "MRI lumbar spine without contrast")
    return chart.case(
        "order-sign: lumbar MRI signed 2 months after one done (Procedure) -> not appropriate,"
        " specialist review",
        "order-sign",
        expect("specialist-review", orderRatings={mri: "not-appropriate"}, expectWarningCard=True),
    )


def _mri_signed_for_cauda_equina() -> Vignette:
    chart = Record("sign-ces", _born(45), "male", ("Dubois", "Marc"))
    chart.condition("M54.50", "Low back pain, unspecified", days=20)
    chart.condition("R32", "Unspecified urinary incontinence", days=2)
    chart.exam("sensation-saddle", "absent")
    mri = chart.draft("72148", "MRI lumbar spine without contrast")
    return chart.case(
        "order-sign: routine lumbar MRI for back pain with new incontinence and saddle"
        " anaesthesia -> appropriate, made stat, emergency card",
        "order-sign",
        expect(
            "emergency-referral",
            "cauda-equina",
            orderRatings={mri: "appropriate"},
            expectPriorityUpgrade=True,
        ),
    )


def _ces_in_note() -> Vignette:
    chart = Record("note-ces", _born(44), "male", ("Oduya", "Samuel"))
    chart.condition("M54.41", "Lumbago with sciatica, right side", days=5)
    chart.note(
        "ED note\nRight sciatica for 5 days. Since last night unable to pass urine; ?saddle"
        " numbness when wiping.\nO/E: SLR +ve R at 30 deg, -ve L. EHL 4/5 R.\nPlan: spinal on-call."
    )
    return chart.case(
        "A note written today: unable to pass urine since last night and ?saddle numbness (an"
        " uncertain cauda-equina symptom counts) -> emergency referral",
        "patient-view",
        expect("emergency-referral", "cauda-equina"),
    )


def _negated_ces_screen_in_note() -> Vignette:
    chart = Record("note-ces-negated", _born(39), "female", ("Laine", "Aino"))
    chart.condition("M54.42", "Lumbago with sciatica, left side", days=12)
    chart.note(
        "Sciatica clinic\n12 days of left leg pain to the sole of the foot.\nCES screen: denies"
        " saddle numbness, retention or incontinence. Bowels opened normally. No new sexual"
        " dysfunction.\nFHx: mother had cauda equina syndrome. History of urinary retention"
        " after childbirth in 2009.\nO/E: SLR +ve L at 50°. AJ absent L, 2+ R. Plantarflexion"
        " 4/5 L.\nPlan: physiotherapy. Safety-netted: return at once should she notice"
        " numbness in the saddle area or loss of bladder control."
    )
    return chart.case(
        "A note that denies every cauda-equina symptom, safety-nets, and holds a family and a"
        " remote history of them; the exam in the note -> physiotherapy, left S1, no flag",
        "patient-view",
        expect("physiotherapy", root="S1", side="left"),
    )


def _l5_from_note_only() -> Vignette:
    chart = Record("note-l5-right", _born(33), "male", ("Bauer", "Jonas"))
    chart.vital_signs(visits=1)
    chart.note(
        "GP consultation. 4 weeks of right sciatica after moving house.\nNo saddle anaesthesia,"
        " bladder and bowel normal. Afebrile.\nO/E: SLR +ve R at 40°, -ve L. Power: EHL 4/5 R,"
        " hip abduction 4/5 R, otherwise 5/5. KJ and AJ 2+ and symmetrical. Reduced sensation"
        " dorsum of the right foot."
    )
    return chart.case(
        "No coded diagnosis or exam: the GP note alone gives 4 weeks of right sciatica, EHL and"
        " hip abduction 4/5 R and a positive SLR -> physiotherapy, right L5",
        "patient-view",
        expect("physiotherapy", root="L5", side="right"),
    )


def _html_note() -> Vignette:
    chart = Record("note-html", _born(58), "female", ("Costa", "Lucia"))
    chart.condition("M54.32", "Sciatica, left side", days=8)
    chart.note(
        "<html><head><title>Triage</title><style>li{color:red}</style></head><body>"
        "<h2>Spinal triage</h2><script>document.write('urinary retention')</script>"
        "<p><b>History:</b> 8 days of left sciatica.</p><ul><li>Left ankle dorsiflexion 3/5,"
        " EHL 3/5 L.</li><li>SLR +ve L.</li><li>Saddle sensation intact; bladder &amp; bowel"
        " function normal.</li></ul></body></html>",
        content_type="text/html",
    )
    return chart.case(
        "An HTML note: left ankle dorsiflexion 3/5 (its script, which writes 'urinary"
        " retention', is never read) -> emergency (severe motor deficit), no cauda equina",
        "patient-view",
        expect("emergency-referral", "severe-motor-deficit"),
    )


def _binary_note() -> Vignette:
    chart = Record("note-binary", _born(49), "male", ("Quinn", "Ciaran"))
    chart.physiotherapy(days=42)
    chart.note(
        "Spinal interface clinic\n10 weeks of left leg pain down the back of the thigh to the"
        " lateral foot; physiotherapy for 6 weeks without change.\nDenies bladder or bowel"
        " disturbance.\nO/E: SLR +ve L at 45°. AJ absent L, present R. Plantarflexion 4-/5 L.",
        by_url=True,
    )
    return chart.case(
        "The note's text is a Binary on the FHIR server (attachment url): 10 weeks of left leg"
        " pain after 6 weeks of physiotherapy, AJ absent L -> MRI, left S1",
        "patient-view",
        expect("mri", root="S1", side="left"),
    )


def _note_older_than_coded_exam() -> Vignette:
    chart = Record("note-older", _born(46), "female", ("Varga", "Eszter"))
    chart.condition("M54.41", "Lumbago with sciatica, right side", days=20)
    chart.note("Right ankle dorsiflexion 2/5, EHL 3/5 R. SLR +ve R.", days=12)
    chart.both_legs("strength-ankle-dorsiflexion", 4, 5, "right")
    chart.both_legs("strength-great-toe-extension", 4, 5, "right")
    return chart.case(
        "A note 12 days ago says dorsiflexion 2/5 R; today's coded exam says 4/5: the most recent"
        " statement wins -> physiotherapy, not severe",
        "patient-view",
        expect("physiotherapy", root="L5", side="right"),
    )


def _notes_not_read() -> Vignette:
    chart = Record("notes-not-read", _born(52), "male", ("Hale", "Tomas"))
    chart.condition("M54.32", "Sciatica, left side", days=10)
    chart.both_legs("strength-great-toe-extension", 4, 5, "left")
    chart.both_legs("straight-leg-raise", True, False, "left")
    chart.note("Urinary retention, catheterised.", status="entered-in-error")
    chart.note("Left foot drop, ankle dorsiflexion 1/5 L.", doc_status="preliminary")
    chart.note("Bilateral sciatica with faecal incontinence.", content_type="application/pdf")
    chart.note("Right ankle dorsiflexion 2/5.", days=100)
    return chart.case(
        "Notes that must not be read (entered in error, preliminary, PDF, 100 days old) hold"
        " findings that would change the answer -> physiotherapy, left L5, no flag",
        "patient-view",
        expect("physiotherapy", root="L5", side="left"),
    )


_BUILDERS = (
    _l5_left_acute,
    _s1_right_after_physiotherapy,
    _l4_left_with_noise,
    _ces_urinary_retention,
    _foot_drop,
    _cancer_history,
    _osteoporosis_without_back_pain,
    _hypertension_only,
    _specialist_review_after_mri,
    _mri_selected_too_early,
    _mri_selected_after_physiotherapy,
    _mri_selected_after_recent_mri,
    _mri_signed_after_recent_mri,
    _mri_signed_for_cauda_equina,
    _ces_in_note,
    _negated_ces_screen_in_note,
    _l5_from_note_only,
    _html_note,
    _binary_note,
    _note_older_than_coded_exam,
    _notes_not_read,
)


@cache
def _built() -> tuple[Vignette, ...]:
    return tuple(build() for build in _BUILDERS)


def own_cases() -> list[Vignette]:
    """Every case of the project, in a fixed order (built once; callers must not mutate)."""
    return list(_built())


def own_case(case_id: str) -> Vignette:
    return next(case for case in _built() if case.id == case_id)
