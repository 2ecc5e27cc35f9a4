"""Every rule line of decision-rules.md and input-contract.md as a small held-out-style case.

Each row is a FHIR record, a hook and the expected answer written as the clinical cases write it
(``tests/vignette_expectations.py``). It runs through ``evaluate`` and ``render`` with the
clock frozen, and the response is read with ``tests.vignette_expectations.check``, the way the
held-out set reads it. Row ids name the rule line they check.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from cds_service.cards import render
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.knowledge import Knowledge
from cds_service.protocol.hook_request import HookRequest
from tests.cases import expect
from tests.cds_response_rules import assert_valid_response
from tests.clinical import records as r
from tests.vignette_expectations import assessments, check

CONFIG = ClinicalConfig()
UK = replace(CONFIG, practice_mode="uk")
WHO = "http://hl7.org/fhir/sid/icd-10"
PRESENT, POSITIVE, ABSENT, NEGATIVE = "52101004", "10828004", "2667000", "260385009"


@dataclass(frozen=True)
class Case:
    """One rule line: a record, a hook and the answer the rules require."""

    id: str
    resources: tuple[dict[str, Any], ...]
    expected: dict[str, Any]
    hook: str = "patient-view"
    drafts: tuple[dict[str, Any], ...] = ()
    #: order-select only: the selected drafts (default: all of them).
    selected: tuple[int, ...] | None = None
    config: ClinicalConfig = CONFIG
    #: Rule ids that must be in the assessment (which trigger fired, not only which flag).
    rules: tuple[str, ...] = ()
    #: Rule ids that must not be.
    not_rules: tuple[str, ...] = ()
    #: True / False: the draft MRI must / must not be offered a priority upgrade to stat.
    upgrade: bool | None = None
    ces_documented: tuple[str, ...] = ()
    ces_unknown: tuple[str, ...] = ()
    differentials: tuple[str, ...] = ()
    #: Exactly these weak flags (None: not checked).
    weak_flags: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def draft_orders(self) -> list[dict[str, Any]]:
        return list(self.drafts)

    def request(self) -> HookRequest:
        context: dict[str, Any] = {
            "userId": "Practitioner/cat-pr",
            "patientId": "cat-pat",
            "encounterId": "cat-enc",
        }
        if self.hook != "patient-view":
            context["draftOrders"] = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": d} for d in self.drafts],
            }
        if self.hook == "order-select":
            chosen = range(len(self.drafts)) if self.selected is None else self.selected
            context["selections"] = [
                f"{self.drafts[i]['resourceType']}/{self.drafts[i]['id']}" for i in chosen
            ]
        return HookRequest(
            service_id="radix",
            hook=self.hook,
            hook_instance=str(uuid.uuid5(uuid.NAMESPACE_URL, self.id)),
            context=context,
            prefetch={},
        )


def case(id: str, resources: list[dict[str, Any]], expected: dict[str, Any], **kw: Any) -> Case:
    return Case(id, tuple(resources), expected, **kw)


def _pt(days: float = 49, **kw: Any) -> dict[str, Any]:
    return r.procedure("308447003", days=days, **kw)


def _mri_procedure(days: float | None = 90) -> dict[str, Any]:
    return r.procedure("72148", r.CPT, days=days)


def _l5_left() -> list[dict[str, Any]]:
    return [
        r.exam("strength-great-toe-extension", 4, side="left"),
        r.exam("strength-hip-abduction", 4, side="left"),
        r.exam("straight-leg-raise", True, side="left"),
    ]


def _pat(birth: str = "1980-08-15") -> dict[str, Any]:
    return r.patient(birth)


EMERGENCY_FLAGS = ("cauda-equina",)
PHYSIO = expect("physiotherapy")
NONE = expect("none", noCards=True, noLocalisation=True)


# --- §1.1 radicular syndrome and back pain, input-contract §1-2 codings and statuses -------------
RADICULAR = [
    case(
        "1.1 radicular ICD-10-CM M54.16",
        [_pat(), r.condition("M54.16")],
        PHYSIO,
        rules=("radicular/condition", "disposition/physiotherapy-under-6-weeks"),
    ),
    case("1.1 radicular WHO ICD-10 M51.16", [_pat(), r.condition("M51.16", WHO)], PHYSIO),
    case("1.1 radicular SNOMED 128196005", [_pat(), r.condition("128196005", r.SCT)], PHYSIO),
    case("1.1 radicular SNOMED 274137005", [_pat(), r.condition("274137005", r.SCT)], PHYSIO),
    case("1.1 radicular G54.4", [_pat(), r.condition("G54.4")], PHYSIO),
    case("1.1 radicular code with dot-less ICD M5442", [_pat(), r.condition("M5442")], PHYSIO),
    case("1.1 lumbar stenosis Condition is radicular", [_pat(), r.condition("M48.062")], PHYSIO),
    case("1.1 stenosis SNOMED 18347007", [_pat(), r.condition("18347007", r.SCT)], PHYSIO),
    case(
        "2 radicular as Observation valueBoolean true",
        [_pat(), r.observed("23056005", value=True)],
        PHYSIO,
    ),
    case(
        "2 radicular as Observation valueCodeableConcept Present",
        [_pat(), r.observed("23056005", value=PRESENT)],
        PHYSIO,
    ),
    case(
        "2 radicular as Observation valueCodeableConcept Positive",
        [_pat(), r.observed("23056005", value=POSITIVE)],
        PHYSIO,
    ),
    case(
        "2 radicular Observation valueBoolean false is negation",
        [_pat(), r.observed("23056005", value=False)],
        NONE,
    ),
    case(
        "2 radicular Observation Absent is negation",
        [_pat(), r.observed("23056005", value=ABSENT)],
        NONE,
    ),
    case(
        "2 radicular Observation Negative is negation",
        [_pat(), r.observed("23056005", value=NEGATIVE)],
        NONE,
    ),
    case(
        "1 Observation entered-in-error never counts",
        [_pat(), r.observed("23056005", status="entered-in-error")],
        NONE,
    ),
    case(
        "1 Observation cancelled never counts",
        [_pat(), r.observed("23056005", status="cancelled")],
        NONE,
    ),
    case(
        "1 Observation preliminary counts",
        [_pat(), r.observed("23056005", status="preliminary")],
        PHYSIO,
    ),
    case(
        "1 Observation amended counts", [_pat(), r.observed("23056005", status="amended")], PHYSIO
    ),
    case(
        "1 Condition resolved is history, not current symptoms",
        [_pat(), r.condition("M54.16", clinical="resolved")],
        NONE,
    ),
    case(
        "1 Condition inactive is history",
        [_pat(), r.condition("M54.16", clinical="inactive")],
        NONE,
    ),
    case(
        "1 Condition remission is history",
        [_pat(), r.condition("M54.16", clinical="remission")],
        NONE,
    ),
    case(
        "1 Condition recurrence is current",
        [_pat(), r.condition("M54.16", clinical="recurrence")],
        PHYSIO,
    ),
    case(
        "1 Condition relapse is current",
        [_pat(), r.condition("M54.16", clinical="relapse")],
        PHYSIO,
    ),
    case(
        "1 Condition without clinicalStatus is current",
        [_pat(), r.condition("M54.16", clinical=None)],
        PHYSIO,
    ),
    case(
        "1 Condition refuted never counts",
        [_pat(), r.condition("M54.16", verification="refuted")],
        NONE,
    ),
    case(
        "1 Condition entered-in-error never counts",
        [_pat(), r.condition("M54.16", verification="entered-in-error")],
        NONE,
    ),
    case(
        "1 Condition provisional counts",
        [_pat(), r.condition("M54.16", verification="provisional")],
        PHYSIO,
    ),
    case(
        "1 Condition without verificationStatus counts",
        [_pat(), r.condition("M54.16", verification=None)],
        PHYSIO,
    ),
    case(
        "1.1 low back pain alone: no radicular syndrome, no card",
        [_pat(), r.condition("M54.50")],
        NONE,
    ),
    case(
        "1.1 exam localises (SLR + myotomal deficit): radicular without a Condition",
        [_pat(), *_l5_left()],
        expect("physiotherapy", root="L5", side="left"),
        rules=("radicular/exam", "disposition/physiotherapy-duration-unknown"),
    ),
    case(
        "1.1 exam localises (femoral stretch + reflex deficit)",
        [
            _pat(),
            r.exam("femoral-nerve-stretch", True, side="right"),
            r.exam("reflex-patellar", 1, side="right"),
            r.exam("sensation-medial-ankle", "reduced", side="right"),
        ],
        expect("physiotherapy", root="L4", side="right"),
        rules=("radicular/exam",),
    ),
    case(
        "1.1 exam localises (SLR + dermatomal deficit)",
        [
            _pat(),
            r.exam("straight-leg-raise", True, side="right"),
            r.exam("sensation-lateral-foot", "reduced", side="right"),
            r.exam("reflex-achilles", 0, side="right"),
        ],
        expect("physiotherapy", root="S1", side="right"),
    ),
    case(
        "1.1 exam localises (crossed SLR on the symptomatic leg + myotomal deficit)",
        [
            _pat(),
            r.exam("crossed-straight-leg-raise", True, side="left"),
            r.exam("strength-great-toe-extension", 4, side="left"),
        ],
        expect("physiotherapy", root="L5", side="left"),
        rules=("radicular/exam",),
    ),
    case(
        "3 SLR coded valueCodeableConcept Positive",
        [
            _pat(),
            {
                **r.exam("straight-leg-raise", None, side="right"),
                "valueCodeableConcept": {"coding": [{"system": r.SCT, "code": POSITIVE}]},
            },
            r.exam("strength-hip-abduction", 4, side="right"),
        ],
        expect("physiotherapy", root="L5", side="right"),
    ),
    case(
        "1.1 positive SLR without any deficit is not radicular syndrome",
        [_pat(), r.exam("straight-leg-raise", True, side="left")],
        NONE,
    ),
    case(
        "1.1 deficit without SLR / FST is not radicular syndrome",
        [_pat(), r.exam("strength-great-toe-extension", 4, side="left")],
        NONE,
    ),
]

# --- §1.2 localisation ---------------------------------------------------------------------------
LOCALISATION = [
    case(
        "1.2 L5 left from EHL, hip abduction, SLR",
        [_pat(), r.sciatica(), *_l5_left()],
        expect("physiotherapy", root="L5", side="left"),
    ),
    case(
        "1.2 S1 right from Achilles and plantarflexion",
        [
            _pat(),
            r.sciatica(),
            r.exam("reflex-achilles", 0, side="right"),
            r.exam("strength-ankle-plantarflexion", 4, side="right"),
            r.exam("straight-leg-raise", True, side="right"),
        ],
        expect("physiotherapy", root="S1", side="right"),
    ),
    case(
        "1.2 L4 left from patellar reflex and medial ankle",
        [
            _pat(),
            r.sciatica(),
            r.exam("reflex-patellar", 1, side="left"),
            r.exam("sensation-medial-ankle", "reduced", side="left"),
            r.exam("strength-ankle-dorsiflexion", 4, side="left"),
        ],
        expect("physiotherapy", root="L4", side="left"),
    ),
    case(
        "1.2 L3 right from knee extension and medial knee",
        [
            _pat(),
            r.sciatica(),
            r.exam("strength-knee-extension", 4, side="right"),
            r.exam("sensation-medial-knee", "reduced", side="right"),
            r.exam("femoral-nerve-stretch", True, side="right"),
        ],
        expect("physiotherapy", root="L3", side="right"),
    ),
    case(
        "1.2 L2 left from hip flexion and anterior thigh",
        [
            _pat(),
            r.sciatica(),
            r.exam("strength-hip-flexion", 4, side="left"),
            r.exam("sensation-anterior-thigh", "absent", side="left"),
            r.exam("femoral-nerve-stretch", True, side="left"),
        ],
        expect("physiotherapy", root="L2", side="left"),
    ),
    case(
        "1.2 side from the ICD side digit when the exam is unsided",
        [
            _pat(),
            r.condition("M54.42"),
            r.exam("strength-great-toe-extension", 4),
            r.exam("strength-hip-abduction", 4),
        ],
        expect("physiotherapy", root="L5", side="left"),
    ),
    case(
        "1.2 side from the Condition bodySite when the exam is unsided",
        [
            _pat(),
            r.condition("23056005", r.SCT, side="right"),
            r.exam("reflex-achilles", 0),
            r.exam("strength-ankle-plantarflexion", 4),
        ],
        expect("physiotherapy", root="S1", side="right"),
    ),
    case(
        "1.2 bilateral root: the same deficits on both sides (exam bodySite bilateral)",
        [
            _pat(),
            r.condition("M54.16"),
            r.exam("reflex-achilles", 0, side="bilateral"),
            r.exam("strength-ankle-plantarflexion", 4, side="bilateral"),
        ],
        {**expect("emergency-referral", "cauda-equina"), "root": "S1", "side": "bilateral"},
    ),
    case(
        "1.2 crossed SLR is on the symptomatic leg and never makes a side bilateral",
        [
            _pat(),
            r.sciatica(),
            *_l5_left(),
            r.exam("crossed-straight-leg-raise", True, side="right"),
        ],
        expect("physiotherapy", root="L5", side="left"),
        not_rules=("cauda-equina/bilateral-radicular",),
    ),
    case(
        "1.2 crossed SLR on the symptomatic leg supports that side",
        [
            _pat(),
            r.sciatica(),
            r.exam("strength-great-toe-extension", 4, side="left"),
            r.exam("crossed-straight-leg-raise", True, side="left"),
        ],
        expect("physiotherapy", root="L5", side="left"),
    ),
    case(
        "1.2 Babinski suppresses localisation (and is an urgent flag)",
        [_pat(), r.sciatica(), *_l5_left(), r.exam("babinski", True, side="left")],
        expect("urgent-imaging", "upper-motor-neuron", noLocalisation=True),
        rules=("localisation/suppressed-by-upper-motor-neuron",),
    ),
    case(
        "1.2 clonus suppresses localisation",
        [_pat(), r.sciatica(), *_l5_left(), r.exam("clonus", True, side="right")],
        expect("urgent-imaging", "upper-motor-neuron", noLocalisation=True),
    ),
    case(
        "1.2 a reflex of grade 4 suppresses localisation",
        [_pat(), r.sciatica(), *_l5_left(), r.exam("reflex-patellar", 4, side="right")],
        expect("urgent-imaging", "upper-motor-neuron", noLocalisation=True),
    ),
    case(
        "1.2 Babinski negative changes nothing",
        [_pat(), r.sciatica(), *_l5_left(), r.exam("babinski", False, side="left")],
        expect("physiotherapy", root="L5", side="left"),
    ),
    case(
        "1.2 a brisk reflex (grade 3) is not an upper motor neuron sign",
        [_pat(), r.sciatica(), *_l5_left(), r.exam("reflex-patellar", 3, side="left")],
        expect("physiotherapy", root="L5", side="left"),
    ),
    case(
        "1.2 the most recent exam observation per side is the current state",
        [
            _pat(),
            r.sciatica(),
            r.exam("strength-great-toe-extension", 4, side="left", days=20),
            r.exam("strength-great-toe-extension", 5, side="left", days=1),
            r.exam("reflex-achilles", 0, side="left"),
            r.exam("straight-leg-raise", True, side="left"),
        ],
        expect("physiotherapy", root="S1", side="left"),
    ),
]

# --- §1.3 duration, §1.4 conservative care, §3 dispositions ------------------------------------
W6 = 7 * CONFIG.persistent_weeks
COURSE = [
    case(
        "1.3 exactly 6 weeks with conservative care: MRI",
        [_pat(), r.sciatica(days=W6), _pt(days=30)],
        expect("mri"),
        rules=("disposition/mri-persistent-after-care",),
    ),
    case(
        "1.3 one day under 6 weeks with conservative care: physiotherapy",
        [_pat(), r.sciatica(days=W6 - 1), _pt(days=30)],
        PHYSIO,
    ),
    case(
        "1.3 recordedDate without onset dates the Condition (at least since)",
        [_pat(), r.condition("M54.16", days=None, recorded=60), _pt(days=30)],
        expect("mri"),
    ),
    case(
        "1.3 onsetPeriod.start",
        [
            _pat(),
            {**r.condition("M54.16", days=None), "onsetPeriod": {"start": r.ago(60)}},
            _pt(days=30),
        ],
        expect("mri"),
    ),
    case(
        "1.3 onsetAge with Patient.birthDate (46 years at a 1980-08-15 birth: ~14 weeks ago)",
        [
            _pat("1980-08-15"),
            {
                **r.condition("M54.16", days=None),
                "onsetAge": {
                    "value": 46,
                    "unit": "years",
                    "system": "http://unitsofmeasure.org",
                    "code": "a",
                },
            },
            _pt(days=30),
        ],
        expect("mri"),
    ),
    case(
        "1.3 onsetAge without a UCUM code, unit 'years'",
        [
            _pat("1980-08-15"),
            {**r.condition("M54.16", days=None), "onsetAge": {"value": 46, "unit": "years"}},
            _pt(days=30),
        ],
        expect("mri"),
    ),
    case(
        "1.3 no date at all: unknown counts as under 6 weeks, even with conservative care",
        [_pat(), r.condition("M54.16", days=None), _pt(days=None)],
        PHYSIO,
        rules=("disposition/physiotherapy-duration-unknown",),
    ),
    case(
        "1.3 the start of conservative care dates the symptoms",
        [_pat(), r.condition("M54.16", days=None), _pt(days=50)],
        expect("mri"),
    ),
    case(
        "1.3 conservative care dates a radicular syndrome known only from the exam",
        [_pat(), *_l5_left(), _pt(days=50)],
        expect("mri", root="L5", side="left"),
    ),
    case(
        "1.3 earliest date: a current low back pain Condition before the sciatica",
        [_pat(), r.condition("M54.50", days=80), r.sciatica(days=10), _pt(days=20)],
        expect("mri"),
    ),
    case(
        "1.3 a resolved back pain Condition does not date current symptoms",
        [
            _pat(),
            r.condition("M54.50", days=80, clinical="resolved"),
            r.sciatica(days=10),
            _pt(days=5),
        ],
        PHYSIO,
    ),
    case(
        "1.3 >= 6 weeks without conservative care: physiotherapy",
        [_pat(), r.sciatica(days=70)],
        PHYSIO,
        rules=("disposition/physiotherapy-no-conservative-care",),
    ),
    case(
        "1.4 physiotherapy Procedure in-progress counts",
        [_pat(), r.sciatica(days=70), _pt(days=30, status="in-progress")],
        expect("mri"),
    ),
    case(
        "1.4 physiotherapy Procedure not-done does not count",
        [_pat(), r.sciatica(days=70), _pt(days=30, status="not-done")],
        PHYSIO,
    ),
    case(
        "1.4 physiotherapy Procedure preparation does not count",
        [_pat(), r.sciatica(days=70), _pt(days=30, status="preparation")],
        PHYSIO,
    ),
    case(
        "1.4 physiotherapy ServiceRequest active counts",
        [_pat(), r.sciatica(days=70), r.service_request("308447003", days=30)],
        expect("mri"),
    ),
    case(
        "1.4 physiotherapy ServiceRequest completed counts",
        [_pat(), r.sciatica(days=70), r.service_request("306358002", status="completed", days=30)],
        expect("mri"),
    ),
    case(
        "1.4 physiotherapy ServiceRequest draft does not count",
        [_pat(), r.sciatica(days=70), r.service_request("308447003", status="draft")],
        PHYSIO,
    ),
    case(
        "1.4 physiotherapy ServiceRequest revoked does not count",
        [_pat(), r.sciatica(days=70), r.service_request("308447003", status="revoked")],
        PHYSIO,
    ),
    case(
        "1.4 conservative care by CPT 97110 Procedure",
        [_pat(), r.sciatica(days=70), r.procedure("97110", r.CPT, days=30)],
        expect("mri"),
    ),
    case(
        "1.4 conservative care by SNOMED 410158009",
        [_pat(), r.sciatica(days=70), r.procedure("410158009", days=30)],
        expect("mri"),
    ),
    case(
        "3 mri: prior lumbar surgery (M96.1 Condition), under 6 weeks",
        [_pat(), r.sciatica(days=14), r.condition("M96.1", days=800, clinical="inactive")],
        expect("mri"),
        rules=("disposition/mri-prior-surgery",),
    ),
    case(
        "3 mri: prior lumbar surgery as a completed Procedure (202725007)",
        [_pat(), r.sciatica(days=14), r.procedure("202725007", days=800)],
        expect("mri"),
    ),
    case(
        "3 mri: prior lumbar surgery as an Observation present",
        [_pat(), r.sciatica(days=14), r.observed("202725007", value=PRESENT)],
        expect("mri"),
    ),
    case(
        "3 prior lumbar surgery without radicular syndrome: no card",
        [_pat(), r.condition("M54.50"), r.condition("M96.1")],
        NONE,
    ),
    case(
        "3 specialist-review: lumbar MRI (Procedure) within 12 months",
        [_pat(), r.sciatica(days=70), _pt(days=50), _mri_procedure(90)],
        expect("specialist-review"),
        rules=("disposition/specialist-review-recent-mri",),
    ),
    case(
        "3 specialist-review: lumbar MRI (ImagingStudy, SNOMED) within 12 months",
        [_pat(), r.sciatica(days=70), _pt(days=50), r.imaging_study("241645008", r.SCT)],
        expect("specialist-review"),
    ),
    case(
        "3 specialist-review: lumbar MRI (DiagnosticReport, LOINC) within 12 months",
        [_pat(), r.sciatica(days=70), _pt(days=50), r.diagnostic_report("24967-2")],
        expect("specialist-review"),
    ),
    case(
        "3 specialist-review: lumbar MRI (ServiceRequest completed) within 12 months",
        [
            _pat(),
            r.sciatica(days=70),
            _pt(days=50),
            r.service_request("72148", r.CPT, status="completed", days=90),
        ],
        expect("specialist-review"),
    ),
    case(
        "3 an active (not completed) MRI ServiceRequest is not a prior MRI",
        [
            _pat(),
            r.sciatica(days=70),
            _pt(days=50),
            r.service_request("72148", r.CPT, status="active", days=20),
        ],
        expect("mri"),
    ),
    case(
        "3 a cancelled DiagnosticReport is not a prior MRI",
        [
            _pat(),
            r.sciatica(days=70),
            _pt(days=50),
            r.diagnostic_report("24967-2", status="cancelled"),
        ],
        expect("mri"),
    ),
    case(
        "3 a lumbar MRI 13 months ago is not recent: MRI",
        [_pat(), r.sciatica(days=70), _pt(days=50), _mri_procedure(396)],
        expect("mri"),
    ),
    case(
        "3 a lumbar MRI just inside 12 months is recent",
        [_pat(), r.sciatica(days=70), _pt(days=50), _mri_procedure(360)],
        expect("specialist-review"),
    ),
    case(
        "3 an undated lumbar MRI may be recent: review it rather than repeat it",
        [_pat(), r.sciatica(days=70), _pt(days=50), _mri_procedure(None)],
        expect("specialist-review"),
    ),
    case(
        "3 prior surgery with a recent MRI: specialist-review",
        [_pat(), r.sciatica(days=14), r.condition("M96.1"), _mri_procedure(60)],
        expect("specialist-review"),
    ),
    case(
        "3 UK mode: persistent radiculopathy after care goes to specialist review",
        [_pat(), r.sciatica(days=70), _pt(days=50)],
        expect("specialist-review"),
        config=UK,
        rules=("disposition/specialist-review-uk",),
    ),
    case(
        "3 UK mode: prior lumbar surgery goes to specialist review",
        [_pat(), r.sciatica(days=14), r.condition("M96.1")],
        expect("specialist-review"),
        config=UK,
    ),
    case(
        "3 UK mode: under 6 weeks is still physiotherapy",
        [_pat(), r.sciatica(days=14)],
        PHYSIO,
        config=UK,
    ),
    case(
        "3 UK mode: red flags are unchanged",
        [_pat(), r.sciatica(days=14), r.condition("R33.9", days=2)],
        expect("emergency-referral", "cauda-equina"),
        config=UK,
    ),
]

# --- §1.6 and §2 cauda equina ------------------------------------------------------------------
CES = "cauda-equina"
SCI = r.sciatica
CAUDA = [
    case(
        "2 CES Condition G83.4 counts on its own (no back pain)",
        [_pat(), r.condition("G83.4", days=None)],
        expect("emergency-referral", CES),
        rules=("cauda-equina/condition",),
    ),
    case(
        "2 CES Condition SNOMED 12454008",
        [_pat(), r.condition("12454008", r.SCT)],
        expect("emergency-referral", CES),
    ),
    case(
        "2 CES Condition SNOMED 192970008 (U)",
        [_pat(), r.condition("192970008", r.SCT)],
        expect("emergency-referral", CES),
    ),
    case(
        "2 CES as an Observation present",
        [_pat(), r.observed("12454008", value=PRESENT)],
        expect("emergency-referral", CES),
    ),
    case(
        "2 recent urinary retention R33.9",
        [_pat(), SCI(), r.condition("R33.9", days=3)],
        expect("emergency-referral", CES),
        rules=("cauda-equina/urinary-retention",),
    ),
    case(
        "2 urinary retention R39.14",
        [_pat(), SCI(), r.condition("R39.14", days=3)],
        expect("emergency-referral", CES),
    ),
    case(
        "2 urinary retention SNOMED 267064002 Observation true",
        [_pat(), SCI(), r.observed("267064002", value=True)],
        expect("emergency-referral", CES),
    ),
    case(
        "2 urinary retention SNOMED 236648008 Observation Positive",
        [_pat(), SCI(), r.observed("236648008", value=POSITIVE)],
        expect("emergency-referral", CES),
    ),
    case(
        "2 recent urinary incontinence R32",
        [_pat(), SCI(), r.condition("R32", days=5)],
        expect("emergency-referral", CES),
        rules=("cauda-equina/urinary-incontinence",),
    ),
    case(
        "2 urinary incontinence SNOMED 165232002 Observation Present",
        [_pat(), SCI(), r.observed("165232002", value=PRESENT)],
        expect("emergency-referral", CES),
    ),
    case(
        "2 faecal incontinence SNOMED 72042002",
        [_pat(), SCI(), r.condition("72042002", r.SCT, days=2)],
        expect("emergency-referral", CES),
        rules=("cauda-equina/faecal-incontinence",),
    ),
    case(
        "2 saddle anaesthesia radix Observation true",
        [_pat(), SCI(), r.observed("saddle-anaesthesia", r.RADIX, value=True)],
        expect("emergency-referral", CES),
        rules=("cauda-equina/saddle-anaesthesia",),
    ),
    case(
        "2 saddle anaesthesia SNOMED 271594007 (U) Condition",
        [_pat(), SCI(), r.condition("271594007", r.SCT, days=1)],
        expect("emergency-referral", CES),
    ),
    case(
        "2 saddle sensation reduced on examination",
        [_pat(), SCI(), r.exam("sensation-saddle", "reduced")],
        expect("emergency-referral", CES),
        rules=("cauda-equina/sensation-saddle",),
    ),
    case(
        "2 saddle sensation absent on examination",
        [_pat(), SCI(), r.exam("sensation-saddle", "absent")],
        expect("emergency-referral", CES),
    ),
    case(
        "2 saddle sensation normal: no flag",
        [_pat(), SCI(), r.exam("sensation-saddle", "normal")],
        PHYSIO,
        ces_documented=("saddle-anaesthesia",),
    ),
    case(
        "2 new sexual dysfunction with back pain",
        [_pat(), SCI(), r.condition("56925008", r.SCT, days=4)],
        expect("emergency-referral", CES),
        rules=("cauda-equina/sexual-dysfunction",),
    ),
    case(
        "2 anal tone reduced",
        [_pat(), SCI(), r.exam("anal-tone", "reduced")],
        expect("emergency-referral", CES),
        rules=("cauda-equina/anal-tone",),
    ),
    case(
        "2 anal tone absent",
        [_pat(), SCI(), r.exam("anal-tone", "absent")],
        expect("emergency-referral", CES),
    ),
    case(
        "2 anal tone normal: no flag",
        [_pat(), SCI(), r.exam("anal-tone", "normal")],
        PHYSIO,
        ces_documented=("anal-tone",),
    ),
    case(
        "2 post-void residual exactly 200 mL",
        [_pat(), SCI(), r.exam("post-void-residual", (CONFIG.pvr_ml, "mL"))],
        expect("emergency-referral", CES),
        rules=("cauda-equina/post-void-residual",),
    ),
    case(
        "2 post-void residual just under 200 mL: no flag",
        [_pat(), SCI(), r.exam("post-void-residual", (CONFIG.pvr_ml - 1, "mL"))],
        PHYSIO,
    ),
    case(
        "1.6 retention exactly 30 days ago counts",
        [_pat(), SCI(days=40), r.condition("R33.9", days=CONFIG.ces_recency_days)],
        expect("emergency-referral", CES),
    ),
    case(
        "1.6 retention 31 days ago is long-standing, not counted",
        [_pat(), SCI(days=40), r.condition("R33.9", days=CONFIG.ces_recency_days + 1)],
        PHYSIO,
    ),
    case(
        "1.6 undated urinary incontinence counts (safety first)",
        [_pat(), SCI(), r.condition("R32", days=None)],
        expect("emergency-referral", CES),
    ),
    case(
        "1.6 undated saddle anaesthesia Observation counts",
        [_pat(), SCI(), r.observed("saddle-anaesthesia", r.RADIX, days=None)],
        expect("emergency-referral", CES),
    ),
    case(
        "1.6 recordedDate dates a symptom without onset: recent",
        [_pat(), SCI(), r.condition("R32", days=None, recorded=10)],
        expect("emergency-referral", CES),
    ),
    case(
        "1.6 recordedDate dates a symptom without onset: long-standing",
        [_pat(), SCI(), r.condition("R32", days=None, recorded=400)],
        PHYSIO,
    ),
    case(
        "1.6 an Observation's effective time: 40 days ago is not counted",
        [_pat(), SCI(), r.observed("267064002", value=True, days=40)],
        PHYSIO,
    ),
    case(
        "1.6 long-standing incontinence (onset 5 years) is not counted",
        [_pat(), SCI(), r.condition("R32", days=5 * 365)],
        PHYSIO,
    ),
    case(
        "1.6 CES symptoms count only with back pain", [_pat(), r.condition("R33.9", days=3)], NONE
    ),
    case(
        "1.6 CES symptoms with low back pain only (no radicular syndrome) count",
        [_pat(), r.condition("M54.50"), r.condition("R33.9", days=3)],
        expect("emergency-referral", CES),
    ),
    case(
        "1.6 CES symptoms with back pain known only from the exam count",
        [_pat(), *_l5_left(), r.condition("R32", days=2)],
        expect("emergency-referral", CES),
    ),
    case(
        "1.6 retention looked for and absent (valueBoolean false)",
        [_pat(), SCI(), r.observed("267064002", value=False)],
        PHYSIO,
        ces_documented=("urinary-retention",),
    ),
    case(
        "1.6 retention coded Absent", [_pat(), SCI(), r.observed("267064002", value=ABSENT)], PHYSIO
    ),
    case(
        "1.6 retention coded Negative",
        [_pat(), SCI(), r.observed("267064002", value=NEGATIVE)],
        PHYSIO,
    ),
    case(
        "1.6 the most recent observation is the current state (now absent)",
        [
            _pat(),
            SCI(),
            r.observed("267064002", value=True, days=5),
            r.observed("267064002", value=False, days=1),
        ],
        PHYSIO,
    ),
    case(
        "1.6 a retention Condition entered in error never counts",
        [_pat(), SCI(), r.condition("R33.9", days=2, verification="entered-in-error")],
        PHYSIO,
        ces_unknown=("urinary-retention",),
    ),
    case(
        "1.6 a resolved retention Condition does not count",
        [_pat(), SCI(), r.condition("R33.9", days=2, clinical="resolved")],
        PHYSIO,
    ),
    case(
        "2 bilateral: radicular Condition with bodySite bilateral",
        [_pat(), r.condition("23056005", r.SCT, side="bilateral")],
        expect("emergency-referral", CES),
        rules=("cauda-equina/bilateral-radicular",),
    ),
    case(
        "2 bilateral: radicular Conditions on both sides (ICD side digits)",
        [_pat(), r.condition("M54.41"), r.condition("M54.32")],
        expect("emergency-referral", CES),
    ),
    case(
        "2 bilateral: radicular Conditions on both sides (bodySite, SNOMED)",
        [
            _pat(),
            r.condition("23056005", r.SCT, side="left"),
            r.condition("128196005", r.SCT, side="right"),
        ],
        expect("emergency-referral", CES),
    ),
    case(
        "2 bilateral: positive SLR on both sides",
        [
            _pat(),
            SCI(),
            r.exam("straight-leg-raise", True, side="left"),
            r.exam("straight-leg-raise", True, side="right"),
        ],
        expect("emergency-referral", CES),
    ),
    case(
        "2 bilateral: positive SLR recorded with bodySite bilateral",
        [_pat(), SCI(), r.exam("straight-leg-raise", True, side="bilateral")],
        expect("emergency-referral", CES),
    ),
    case(
        "2 bilateral: motor deficit on both sides",
        [
            _pat(),
            SCI(),
            r.exam("strength-great-toe-extension", 4, side="left"),
            r.exam("strength-hip-abduction", 4, side="right"),
        ],
        expect("emergency-referral", CES),
    ),
    case(
        "2 SLR positive on one side, negative on the other: not bilateral",
        [_pat(), SCI(), *_l5_left(), r.exam("straight-leg-raise", False, side="right")],
        expect("physiotherapy", root="L5", side="left"),
    ),
    case(
        "2 stenosis with bodySite bilateral never makes it bilateral",
        [_pat(), r.condition("M48.062", side="bilateral")],
        PHYSIO,
    ),
    case(
        "2 stenosis on one side and sciatica on the other: not bilateral",
        [_pat(), r.condition("M48.061", side="right"), r.condition("M54.32")],
        PHYSIO,
    ),
    case(
        "2 crossed SLR on the other leg is not a positive SLR on both sides",
        [
            _pat(),
            SCI(),
            r.exam("straight-leg-raise", True, side="left"),
            r.exam("strength-great-toe-extension", 4, side="left"),
            r.exam("crossed-straight-leg-raise", True, side="right"),
        ],
        expect("physiotherapy", root="L5", side="left"),
    ),
    case(
        "2 bilateral reduced reflexes alone: polyneuropathy, not cauda equina",
        [
            _pat(),
            SCI(),
            r.exam("reflex-achilles", 1, side="left"),
            r.exam("reflex-achilles", 1, side="right"),
        ],
        PHYSIO,
        differentials=("polyneuropathy",),
    ),
    case(
        "2 bilateral sensory loss alone: polyneuropathy, not cauda equina",
        [
            _pat(),
            SCI(),
            r.exam("sensation-lateral-foot", "reduced", side="bilateral"),
            r.exam("sensation-dorsum-foot", "reduced", side="bilateral"),
        ],
        PHYSIO,
        differentials=("polyneuropathy",),
    ),
]

# --- §2 motor flags -----------------------------------------------------------------------------
MOTOR = [
    case(
        "2 MRC 3 is severe",
        [_pat(), SCI(), r.exam("strength-ankle-plantarflexion", 3, side="left")],
        expect("emergency-referral", "severe-motor-deficit"),
        rules=("severe-motor-deficit/mrc",),
    ),
    case(
        "2 MRC 4 is a deficit, not severe",
        [_pat(), SCI(), r.exam("strength-ankle-plantarflexion", 4, side="left")],
        PHYSIO,
    ),
    case(
        "2 MRC 0 is severe",
        [_pat(), SCI(), r.exam("strength-hip-flexion", 0, side="right")],
        expect("emergency-referral", "severe-motor-deficit"),
    ),
    case(
        "2 MRC as valueQuantity",
        [
            _pat(),
            SCI(),
            {
                **r.exam("strength-knee-extension", None, side="left"),
                "valueQuantity": {"value": 2, "unit": "{score}"},
            },
        ],
        expect("emergency-referral", "severe-motor-deficit"),
    ),
    case(
        "2 foot drop Condition M21.372",
        [_pat(), SCI(), r.condition("M21.372", days=3)],
        expect("emergency-referral", "severe-motor-deficit"),
        rules=("severe-motor-deficit/foot-drop",),
    ),
    case(
        "2 foot drop Condition M21.379 (unspecified side)",
        [_pat(), SCI(), r.condition("M21.379", days=3)],
        expect("emergency-referral", "severe-motor-deficit"),
    ),
    case(
        "2 foot drop Observation Present",
        [_pat(), SCI(), r.observed("6077001", value=PRESENT, side="right")],
        expect("emergency-referral", "severe-motor-deficit"),
    ),
    case(
        "2 foot drop Observation false: no flag",
        [_pat(), SCI(), r.observed("6077001", value=False, side="right")],
        PHYSIO,
    ),
    case(
        "2 progressive: same muscle and side lost one grade",
        [
            _pat(),
            SCI(),
            r.exam("strength-great-toe-extension", 5, side="left", days=20),
            r.exam("strength-great-toe-extension", 4, side="left", days=1),
        ],
        expect("emergency-referral", "progressive-motor-deficit"),
        rules=("progressive-motor-deficit/mrc-drop",),
    ),
    case(
        "2 progressive: a drop on the other side is not progressive",
        [
            _pat(),
            SCI(),
            r.exam("strength-great-toe-extension", 5, side="left", days=20),
            r.exam("strength-great-toe-extension", 4, side="right", days=1),
        ],
        PHYSIO,
    ),
    case(
        "2 progressive: only the two most recent observations count (recovered)",
        [
            _pat(),
            SCI(),
            r.exam("strength-hip-abduction", 5, side="left", days=30),
            r.exam("strength-hip-abduction", 4, side="left", days=20),
            r.exam("strength-hip-abduction", 5, side="left", days=1),
        ],
        PHYSIO,
    ),
    case(
        "2 progressive: unchanged grade is not progressive",
        [
            _pat(),
            SCI(),
            r.exam("strength-hip-abduction", 4, side="left", days=20),
            r.exam("strength-hip-abduction", 4, side="left", days=1),
        ],
        PHYSIO,
    ),
    case(
        "2 progressive weakness reported (radix)",
        [_pat(), SCI(), r.observed("progressive-weakness", r.RADIX, value=True)],
        expect("emergency-referral", "progressive-motor-deficit"),
        rules=("progressive-motor-deficit/reported",),
    ),
    case(
        "2 progressive weakness reported false: no flag",
        [_pat(), SCI(), r.observed("progressive-weakness", r.RADIX, value=False)],
        PHYSIO,
    ),
    case(
        "2 multilevel: hip flexion (L2) and plantarflexion (S1)",
        [
            _pat(),
            SCI(),
            r.exam("strength-hip-flexion", 4, side="left"),
            r.exam("strength-ankle-plantarflexion", 4, side="left"),
        ],
        expect("emergency-referral", "multilevel-motor-deficit"),
    ),
    case(
        "2 multilevel: hip flexion (L2) and ankle dorsiflexion (L4/L5)",
        [
            _pat(),
            SCI(),
            r.exam("strength-hip-flexion", 4, side="left"),
            r.exam("strength-ankle-dorsiflexion", 4, side="left"),
        ],
        expect("emergency-referral", "multilevel-motor-deficit"),
    ),
    case(
        "2 multilevel: knee extension (L3/L4) and great-toe extension (L5) are adjacent",
        [
            _pat(),
            SCI(),
            r.exam("strength-knee-extension", 4, side="left"),
            r.exam("strength-great-toe-extension", 4, side="left"),
        ],
        PHYSIO,
    ),
    case(
        "2 multilevel: ankle eversion (L5/S1) and knee extension (L3/L4) are adjacent",
        [
            _pat(),
            SCI(),
            r.exam("strength-ankle-eversion", 4, side="left"),
            r.exam("strength-knee-extension", 4, side="left"),
        ],
        PHYSIO,
    ),
    case(
        "2 multilevel: foot drop (ankle dorsiflexion L4/L5) and hip flexion (L2)",
        [_pat(), SCI(), r.condition("M21.372"), r.exam("strength-hip-flexion", 4, side="left")],
        expect("emergency-referral", "severe-motor-deficit", "multilevel-motor-deficit"),
    ),
    case(
        "2 multilevel: L5 muscles alone are one level",
        [
            _pat(),
            SCI(),
            r.exam("strength-great-toe-extension", 4, side="left"),
            r.exam("strength-hip-abduction", 4, side="left"),
            r.exam("strength-ankle-inversion", 4, side="left"),
        ],
        PHYSIO,
    ),
]

# --- §2 cord compression, malignancy, infection, fracture, UMN ---------------------------------
RISK = [
    case(
        "2 cord compression Condition 71286001",
        [_pat(), SCI(), r.condition("71286001", r.SCT)],
        expect("emergency-referral", "cord-compression"),
    ),
    case(
        "2 UMN signs with malignancy are cord compression (not the UMN flag)",
        [_pat(), SCI(), r.condition("C50.9"), r.exam("babinski", True, side="left")],
        expect("emergency-referral", "cord-compression", "malignancy", noLocalisation=True),
        rules=("cord-compression/umn-with-malignancy",),
    ),
    case(
        "2 UMN signs with a history of malignancy are cord compression",
        [_pat(), SCI(), r.condition("Z85.3"), r.exam("clonus", True, side="left")],
        expect("emergency-referral", "cord-compression", "malignancy"),
    ),
    case(
        "2 current malignancy ICD C61",
        [_pat(), SCI(), r.condition("C61")],
        expect("urgent-imaging", "malignancy"),
        rules=("malignancy/current",),
    ),
    case(
        "2 current malignancy WHO ICD-10 C79.51",
        [_pat(), SCI(), r.condition("C79.51", WHO)],
        expect("urgent-imaging", "malignancy"),
    ),
    case(
        "2 current malignancy SNOMED 363346000",
        [_pat(), SCI(), r.condition("363346000", r.SCT)],
        expect("urgent-imaging", "malignancy"),
    ),
    case(
        "2 history of malignancy Z85.3",
        [_pat(), SCI(), r.condition("Z85.3", days=2000)],
        expect("urgent-imaging", "malignancy"),
        rules=("malignancy/history",),
    ),
    case(
        "2 history of malignancy: a C code with status resolved",
        [_pat(), SCI(), r.condition("C50.9", days=2000, clinical="resolved")],
        expect("urgent-imaging", "malignancy"),
        rules=("malignancy/history",),
    ),
    case(
        "2 history of malignancy: a C code in remission",
        [_pat(), SCI(), r.condition("C61", days=2000, clinical="remission")],
        expect("urgent-imaging", "malignancy"),
    ),
    case(
        "2 history of malignancy SNOMED 429699009",
        [_pat(), SCI(), r.condition("429699009", r.SCT)],
        expect("urgent-imaging", "malignancy"),
    ),
    case(
        "2 a refuted malignancy does not count",
        [_pat(), SCI(), r.condition("C61", verification="refuted")],
        PHYSIO,
    ),
    case(
        "2 malignancy: the contrast MRI (72158) is suggested",
        [_pat(), SCI(), r.condition("C61")],
        expect("urgent-imaging", "malignancy"),
        extra={"suggests_code": "72158"},
    ),
    case(
        "2 fracture risk alone: MRI without contrast (72148) is suggested",
        [_pat(), SCI(), r.condition("M81.0")],
        expect("urgent-imaging", "fracture"),
        extra={"suggests_code": "72148"},
    ),
    case(
        "2 spinal infection M46.26 (family M46.2*)",
        [_pat(), SCI(), r.condition("M46.26")],
        expect("urgent-imaging", "infection"),
        rules=("infection/spinal-infection",),
    ),
    case(
        "2 spinal infection M46.46 (family M46.4*)",
        [_pat(), SCI(), r.condition("M46.46")],
        expect("urgent-imaging", "infection"),
    ),
    case(
        "2 spinal infection G06.1",
        [_pat(), SCI(), r.condition("G06.1")],
        expect("urgent-imaging", "infection"),
    ),
    case(
        "2 spinal infection SNOMED 302935008",
        [_pat(), SCI(), r.condition("302935008", r.SCT)],
        expect("urgent-imaging", "infection"),
    ),
    case(
        "2 current immunosuppression D84.9",
        [_pat(), SCI(), r.condition("D84.9")],
        expect("urgent-imaging", "infection"),
        rules=("infection/immunosuppression",),
    ),
    case(
        "2 immunosuppression SNOMED 86406008 Observation present",
        [_pat(), SCI(), r.observed("86406008", value=PRESENT)],
        expect("urgent-imaging", "infection"),
    ),
    case(
        "2 immunosuppression resolved does not count (current only)",
        [_pat(), SCI(), r.condition("D84.9", clinical="resolved")],
        PHYSIO,
    ),
    case(
        "2 fever R50.9 with injecting drug use",
        [_pat(), SCI(), r.condition("R50.9", days=2), r.condition("228388006", r.SCT)],
        expect("urgent-imaging", "infection"),
        rules=("infection/fever-with-injecting-drug-use",),
    ),
    case(
        "2 fever with past injecting drug use (resolved)",
        [
            _pat(),
            SCI(),
            r.condition("386661006", r.SCT, days=2),
            r.condition("416479009", r.SCT, clinical="resolved", days=3000),
        ],
        expect("urgent-imaging", "infection"),
    ),
    case(
        "2 fever without injecting drug use: no flag",
        [_pat(), SCI(), r.condition("R50.9", days=2)],
        PHYSIO,
    ),
    case(
        "2 injecting drug use without fever: no flag",
        [_pat(), SCI(), r.condition("228388006", r.SCT)],
        PHYSIO,
    ),
    case(
        "1.7 temperature exactly 38.0 Cel within 7 days with IDU",
        [
            _pat(),
            SCI(),
            r.temperature(CONFIG.fever_celsius, "Cel", days=2),
            r.observed("226034001", value=True),
        ],
        expect("urgent-imaging", "infection"),
    ),
    case(
        "1.7 temperature 37.9 Cel is not fever",
        [
            _pat(),
            SCI(),
            r.temperature(CONFIG.fever_celsius - 0.1, "Cel", days=2),
            r.observed("226034001", value=True),
        ],
        PHYSIO,
    ),
    case(
        "1.7 temperature exactly 100.4 [degF] is fever",
        [_pat(), SCI(), r.temperature(100.4, "[degF]", days=2), r.condition("228388006", r.SCT)],
        expect("urgent-imaging", "infection"),
    ),
    case(
        "1.7 temperature 100.3 [degF] is not fever",
        [_pat(), SCI(), r.temperature(100.3, "[degF]", days=2), r.condition("228388006", r.SCT)],
        PHYSIO,
    ),
    case(
        "1.7 a temperature exactly 7 days ago counts",
        [
            _pat(),
            SCI(),
            r.temperature(38.6, days=CONFIG.fever_window_days),
            r.condition("228388006", r.SCT),
        ],
        expect("urgent-imaging", "infection"),
    ),
    case(
        "1.7 a temperature 8 days ago does not count",
        [
            _pat(),
            SCI(),
            r.temperature(38.6, days=CONFIG.fever_window_days + 1),
            r.condition("228388006", r.SCT),
        ],
        PHYSIO,
    ),
    case(
        "1.7 an undated temperature does not count",
        [_pat(), SCI(), r.temperature(39.0, days=None), r.condition("228388006", r.SCT)],
        PHYSIO,
    ),
    case(
        "1.7 any dated temperature in the window counts, not only the latest",
        [
            _pat(),
            SCI(),
            r.temperature(38.7, days=3),
            r.temperature(36.8, days=1),
            r.condition("228388006", r.SCT),
        ],
        expect("urgent-imaging", "infection"),
    ),
    case(
        "2 vertebral fracture S32.010A (family S32.0*)",
        [_pat(), SCI(), r.condition("S32.010A")],
        expect("urgent-imaging", "fracture"),
        rules=("fracture/vertebral-fracture",),
    ),
    case(
        "2 vertebral fracture M48.56XA (family M48.56*)",
        [_pat(), SCI(), r.condition("M48.56XA")],
        expect("urgent-imaging", "fracture"),
    ),
    case(
        "2 osteoporosis M80.08XA (family M80.*)",
        [_pat(), SCI(), r.condition("M80.08XA")],
        expect("urgent-imaging", "fracture"),
        rules=("fracture/osteoporosis",),
    ),
    case(
        "2 osteoporosis M81.0",
        [_pat(), SCI(), r.condition("M81.0")],
        expect("urgent-imaging", "fracture"),
    ),
    case(
        "2 long-term systemic steroids Z79.52",
        [_pat(), SCI(), r.condition("Z79.52")],
        expect("urgent-imaging", "fracture"),
        rules=("fracture/steroids",),
    ),
    case(
        "2 long-term steroids SNOMED 297279009",
        [_pat(), SCI(), r.condition("297279009", r.SCT)],
        expect("urgent-imaging", "fracture"),
    ),
    case(
        "2 age 70 today (birthDate exactly 70 years ago)",
        [_pat(r.birth_years_ago(CONFIG.fracture_age)), SCI()],
        expect("urgent-imaging", "fracture"),
        rules=("fracture/age",),
    ),
    case(
        "2 age 69, turning 70 tomorrow: no fracture flag",
        [_pat(r.birth_years_ago(CONFIG.fracture_age, days=1)), SCI()],
        PHYSIO,
    ),
    case(
        "2 upper motor neuron signs without malignancy: urgent",
        [_pat(), SCI(), r.exam("babinski", True, side="right")],
        expect("urgent-imaging", "upper-motor-neuron", noLocalisation=True),
        differentials=("ms-stroke",),
    ),
    case("2 weak flag age over 50 changes no tier", [_pat(r.birth_years_ago(60)), SCI()], PHYSIO),
    case(
        "2 weak flag unexplained weight loss R63.4 changes no tier",
        [_pat(), SCI(), r.condition("R63.4")],
        PHYSIO,
        weak_flags=("weight-loss",),
    ),
    case(
        "2 age >= 70 is the fracture flag, not also a weak flag",
        [_pat(r.birth_years_ago(74)), SCI()],
        expect("urgent-imaging", "fracture"),
        weak_flags=(),
    ),
    case(
        "2 age over 50 and under 70 is only a weak flag",
        [_pat(r.birth_years_ago(CONFIG.fracture_age - 1)), SCI()],
        PHYSIO,
        weak_flags=(f"age-over-{CONFIG.weak_flag_age}",),
    ),
    case(
        "2 age exactly 50 is not a weak flag (over 50)",
        [_pat(r.birth_years_ago(CONFIG.weak_flag_age)), SCI()],
        PHYSIO,
        weak_flags=(),
    ),
    case(
        "2 weak flag weight loss SNOMED 422868009 changes no tier",
        [_pat(), SCI(), r.observed("422868009", value=PRESENT)],
        PHYSIO,
    ),
    case(
        "2 differential PAD I73.9 changes no tier",
        [_pat(), SCI(), r.condition("I73.9")],
        PHYSIO,
        differentials=("peripheral-arterial-disease",),
    ),
    case(
        "2 differential DVT I82.40 changes no tier",
        [_pat(), SCI(), r.condition("I82.401")],
        PHYSIO,
        differentials=("deep-vein-thrombosis",),
    ),
    case(
        "2 differential meralgia paraesthetica G57.12",
        [_pat(), SCI(), r.condition("G57.12")],
        PHYSIO,
        differentials=("meralgia-paraesthetica",),
    ),
    case(
        "2 differential MS G35 changes no tier",
        [_pat(), SCI(), r.condition("G35")],
        PHYSIO,
        differentials=("ms-stroke",),
    ),
    case(
        "2 differential polyneuropathy E11.42 changes no tier",
        [_pat(), SCI(), r.condition("E11.42")],
        PHYSIO,
        differentials=("polyneuropathy",),
    ),
    case(
        "2 emergency outranks urgent",
        [_pat(), SCI(), r.condition("C61"), r.condition("R33.9", days=1)],
        expect("emergency-referral", CES, "malignancy"),
    ),
    # Red flags are flags of back pain (§2): only the two diagnoses stand without it.
    case(
        "2 no back pain: osteoporosis and steroids at 76 flag nothing",
        [_pat(r.birth_years_ago(76)), r.condition("M81.0"), r.condition("Z79.52")],
        NONE,
    ),
    case(
        "2 no back pain: cancer, immunosuppression, fever with IDU flag nothing",
        [
            _pat(),
            r.condition("C61"),
            r.condition("B20"),
            r.condition("R50.9", days=2),
            r.condition("228388006", r.SCT),
        ],
        NONE,
    ),
    case(
        "2 no back pain: a stroke patient's weak, dropped foot flags nothing",
        [
            _pat(),
            r.condition("I63.9"),
            r.exam("strength-ankle-dorsiflexion", 2, side="left"),
            r.condition("M21.372"),
            r.exam("babinski", True, side="left"),
        ],
        NONE,
    ),
    case(
        "2 no back pain: spinal infection and vertebral fracture flag nothing",
        [_pat(), r.condition("M46.26"), r.condition("S32.010A")],
        NONE,
    ),
    case(
        "2 no back pain: saddle sensation, anal tone and PVR flag nothing",
        [
            _pat(),
            r.exam("sensation-saddle", "absent"),
            r.exam("anal-tone", "reduced"),
            r.exam("post-void-residual", (400, "mL")),
        ],
        NONE,
    ),
    case(
        "2 no back pain: a cauda equina syndrome Condition stands alone",
        [_pat(), r.condition("G83.4", days=2)],
        expect("emergency-referral", CES),
        rules=("cauda-equina/condition",),
    ),
    case(
        "2 no back pain: a cord compression Condition stands alone",
        [_pat(), r.condition("71286001", r.SCT)],
        expect("emergency-referral", "cord-compression"),
    ),
    case(
        "2 low back pain alone is enough: osteoporosis at 76 is the fracture flag",
        [_pat(r.birth_years_ago(76)), r.condition("M54.50"), r.condition("M81.0")],
        expect("urgent-imaging", "fracture"),
        rules=("fracture/osteoporosis", "fracture/age"),
    ),
]


# --- §4 imaging orders ---------------------------------------------------------------------------
def _mri(code: str = "72148", system: str = r.CPT, priority: str = "routine") -> dict[str, Any]:
    return r.draft_mri(code, system, priority)


def _rated(draft: dict[str, Any], rating: str | None) -> dict[str, str | None]:
    return {f"ServiceRequest/{draft['id']}": rating}


def _order(
    id: str,
    resources: list[dict[str, Any]],
    drafts: list[dict[str, Any]],
    ratings: list[str | None],
    expected: dict[str, Any],
    hook: str = "order-select",
    **kw: Any,
) -> Case:
    order_ratings: dict[str, str | None] = {}
    for draft, rating in zip(drafts, ratings, strict=True):
        order_ratings[f"{draft['resourceType']}/{draft['id']}"] = rating
    return Case(
        id,
        tuple(resources),
        {**expected, "orderRatings": order_ratings},
        hook=hook,
        drafts=tuple(drafts),
        **kw,
    )


def _orders() -> list[Case]:
    m = [_mri() for _ in range(40)]
    ct, xr, pt_draft = (
        r.draft_mri("72131"),
        r.draft_mri("72100"),
        r.service_request("308447003", status="draft", days=0),
    )
    med = {
        "resourceType": "MedicationRequest",
        "id": "cat-med1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/cat-pat"},
        "medicationCodeableConcept": {"text": "naproxen"},
    }
    warn = {"expectWarningCard": True}
    quiet = {"noCards": True}
    return [
        _order(
            "4 no-criteria-apply: nothing about the back",
            [_pat()],
            [m[0]],
            ["no-criteria-apply"],
            {**NONE},
        ),
        _order(
            "4 no-criteria-apply: osteoporosis at 76 without back pain (red flags need it)",
            [_pat(r.birth_years_ago(76)), r.condition("M81.0")],
            [m[39]],
            ["no-criteria-apply"],
            {**NONE},
            hook="order-sign",
        ),
        _order(
            "4 appropriate: emergency flag, routine MRI upgraded to stat",
            [_pat(), SCI(), r.condition("R33.9", days=1)],
            [m[1]],
            ["appropriate"],
            expect("emergency-referral", CES, expectPriorityUpgrade=True),
            upgrade=True,
        ),
        _order(
            "4 appropriate: emergency flag, MRI already stat is not upgraded",
            [_pat(), SCI(), r.condition("R33.9", days=1)],
            [_mri(priority="stat")],
            ["appropriate"],
            expect("emergency-referral", CES),
            upgrade=False,
        ),
        _order(
            "4 appropriate: emergency flag, asap MRI upgraded to stat",
            [_pat(), SCI(), r.condition("R33.9", days=1)],
            [_mri(priority="asap")],
            ["appropriate"],
            expect("emergency-referral", CES, expectPriorityUpgrade=True),
            upgrade=True,
        ),
        _order(
            "4 appropriate: urgent flag, rating alone answers",
            [_pat(), SCI(), r.condition("C61")],
            [m[2]],
            ["appropriate"],
            {**expect("urgent-imaging", "malignancy"), **quiet},
            upgrade=False,
        ),
        _order(
            "4 appropriate: emergency flag, CT is rated and no MRI upgrade",
            [_pat(), SCI(), r.exam("strength-hip-flexion", 2, side="left")],
            [ct],
            ["appropriate"],
            expect("emergency-referral", "severe-motor-deficit"),
        ),
        _order(
            "4 appropriate: red flag evidence dated after the recent MRI",
            [_pat(), SCI(days=120), _pt(days=100), _mri_procedure(60), r.condition("R32", days=3)],
            [m[3]],
            ["appropriate"],
            expect("emergency-referral", CES, expectPriorityUpgrade=True),
        ),
        _order(
            "4 appropriate: undated red flag evidence counts as new",
            [
                _pat(),
                SCI(days=120),
                _pt(days=100),
                _mri_procedure(60),
                r.condition("C61", days=None),
            ],
            [m[4]],
            ["appropriate"],
            {**expect("urgent-imaging", "malignancy"), **quiet},
        ),
        _order(
            "4 not-appropriate: red flag older than the recent MRI (duplicate)",
            [
                _pat(),
                SCI(days=120),
                _pt(days=100),
                _mri_procedure(60),
                r.condition("Z85.3", days=900),
            ],
            [m[5]],
            ["not-appropriate"],
            {**expect("urgent-imaging", "malignancy"), **warn},
            rules=("order-rating/duplicate-mri",),
        ),
        _order(
            "4 not-appropriate: age >= 70 rests on no dated fact, never new",
            [_pat(r.birth_years_ago(75)), SCI(days=120), _pt(days=100), _mri_procedure(60)],
            [m[6]],
            ["not-appropriate"],
            {**expect("urgent-imaging", "fracture"), **warn},
        ),
        _order(
            "4 emergency flag older than the recent MRI: duplicate, still offered stat",
            [
                _pat(),
                SCI(days=120),
                _pt(days=100),
                _mri_procedure(30),
                r.exam("strength-hip-flexion", 3, side="left", days=40),
            ],
            [m[7]],
            ["not-appropriate"],
            {
                **expect("emergency-referral", "severe-motor-deficit"),
                **warn,
                "expectPriorityUpgrade": True,
            },
            upgrade=True,
        ),
        _order(
            "4 not-appropriate: duplicate lumbar MRI without red flags",
            [_pat(), SCI(days=120), _pt(days=100), r.imaging_study(days=90)],
            [m[8]],
            ["not-appropriate"],
            {**expect("specialist-review"), **warn},
        ),
        _order(
            "4 a recent MRI does not make CT a duplicate: appropriate after care",
            [_pat(), SCI(days=120), _pt(days=100), _mri_procedure(60)],
            [ct],
            ["appropriate"],
            {**expect("specialist-review"), **quiet},
        ),
        _order(
            "4 appropriate: back pain >= 6 weeks with conservative care",
            [_pat(), r.condition("M54.50", days=W6), _pt(days=30)],
            [m[9]],
            ["appropriate"],
            {**NONE},
        ),
        _order(
            "4 appropriate: radicular syndrome after prior lumbar surgery",
            [_pat(), SCI(days=10), r.condition("M96.1")],
            [m[10]],
            ["appropriate"],
            {**expect("mri"), **quiet},
        ),
        _order(
            "4 not-appropriate: under 6 weeks",
            [_pat(), SCI(days=W6 - 1), _pt(days=10)],
            [m[11]],
            ["not-appropriate"],
            {**PHYSIO, **warn},
            rules=("order-rating/conservative-care-first",),
        ),
        _order(
            "4 not-appropriate: duration unknown",
            [_pat(), r.condition("M54.16", days=None)],
            [m[12]],
            ["not-appropriate"],
            {**PHYSIO, **warn},
        ),
        _order(
            "4 not-appropriate: no documented conservative care",
            [_pat(), r.condition("M54.50", days=90)],
            [m[13]],
            ["not-appropriate"],
            {**expect("none", noLocalisation=True), **warn},
        ),
        _order(
            "4 not-appropriate: low back pain alone under 6 weeks (order-sign)",
            [_pat(), r.condition("M54.59", days=20)],
            [m[14]],
            ["not-appropriate"],
            {**expect("none"), **warn},
            hook="order-sign",
        ),
        _order(
            "5 LOINC 30679-5 MRI order",
            [_pat(), SCI()],
            [_mri("30679-5", r.LOINC)],
            ["not-appropriate"],
            {**PHYSIO, **warn},
        ),
        _order(
            "5 LOINC 24968-0 MRI order",
            [_pat(), SCI()],
            [_mri("24968-0", r.LOINC)],
            ["not-appropriate"],
            {**PHYSIO, **warn},
        ),
        _order(
            "5 SNOMED 241645008 MRI order",
            [_pat(), SCI()],
            [_mri("241645008", r.SCT)],
            ["not-appropriate"],
            {**PHYSIO, **warn},
        ),
        _order(
            "5 CPT 72158 MRI order",
            [_pat(), SCI()],
            [_mri("72158")],
            ["not-appropriate"],
            {**PHYSIO, **warn},
        ),
        _order(
            "5 CPT 72149 MRI order",
            [_pat(), SCI()],
            [_mri("72149")],
            ["not-appropriate"],
            {**PHYSIO, **warn},
        ),
        _order(
            "5 lumbar radiograph (CPT 72100) is rated too",
            [_pat(), SCI()],
            [xr],
            ["not-appropriate"],
            {**PHYSIO, **warn},
        ),
        _order(
            "5 lumbar CT LOINC 24963-1 is rated",
            [_pat(), SCI()],
            [r.draft_mri("24963-1", r.LOINC)],
            ["not-appropriate"],
            {**PHYSIO, **warn},
        ),
        _order(
            "4 order-select: only the selections are rated",
            [_pat(), SCI()],
            [m[15], m[16]],
            ["not-appropriate", None],
            {**PHYSIO, **warn},
            selected=(0,),
        ),
        _order(
            "4 order-sign: every draft is rated",
            [_pat(), SCI()],
            [m[17], m[18]],
            ["not-appropriate", "not-appropriate"],
            {**PHYSIO, **warn},
            hook="order-sign",
        ),
        _order(
            "4 non-imaging orders are ignored (MedicationRequest)",
            [_pat(), SCI()],
            [med],
            [None],
            {**PHYSIO, **quiet},
        ),
        _order(
            "4 physiotherapy referral without red flags: no card",
            [_pat(), SCI()],
            [pt_draft],
            [None],
            {**PHYSIO, **quiet},
        ),
        _order(
            "4 physiotherapy referral while an urgent flag stands: warning card",
            [_pat(), SCI(), r.condition("M81.0")],
            [r.service_request("306358002", status="draft", days=0)],
            [None],
            {**expect("urgent-imaging", "fracture"), **warn},
        ),
        _order(
            "4 physiotherapy referral while an emergency flag stands: warning card",
            [_pat(), SCI(), r.condition("G83.4")],
            [r.service_request("308447003", status="draft", days=0)],
            [None],
            {**expect("emergency-referral", CES), **warn},
            hook="order-sign",
        ),
        _order(
            "4 unselected physiotherapy referral with red flags: no card",
            [_pat(), SCI(), r.condition("M81.0")],
            [m[19], r.service_request("308447003", status="draft", days=0)],
            ["appropriate", None],
            {**expect("urgent-imaging", "fracture"), **quiet},
            selected=(0,),
        ),
        _order(
            "4 appropriate MRI after conservative care: no card",
            [_pat(), SCI(days=70), _pt(days=40)],
            [m[20]],
            ["appropriate"],
            {**expect("mri"), **quiet},
        ),
        _order(
            "4 red flag without back pain still rates an MRI appropriate",
            [_pat(), r.condition("G83.4")],
            [m[21]],
            ["appropriate"],
            expect("emergency-referral", CES, expectPriorityUpgrade=True),
        ),
        _order(
            "4 emergency flag with only a medication ordered: the critical card",
            [_pat(), SCI(), r.condition("R33.9", days=1)],
            [{**med, "id": "cat-med2"}],
            [None],
            expect("emergency-referral", CES),
            extra={"indicators": ["critical"]},
        ),
        _order(
            "4 undated prior MRI: dated red flag evidence cannot be shown older",
            [
                _pat(),
                SCI(days=120),
                _pt(days=100),
                _mri_procedure(None),
                r.condition("C61", days=400),
            ],
            [m[23]],
            ["appropriate"],
            {**expect("urgent-imaging", "malignancy"), **quiet},
        ),
        _order(
            "4 undated prior MRI without red flags: a repeat is a duplicate",
            [_pat(), SCI(days=120), _pt(days=100), r.imaging_study(days=None)],
            [m[24]],
            ["not-appropriate"],
            {**expect("specialist-review"), **warn},
        ),
        _order(
            "4 not-appropriate MRI and physiotherapy ordered together: no second referral",
            [_pat(), SCI()],
            [m[25], r.service_request("308447003", status="draft", days=0)],
            ["not-appropriate", None],
            {**PHYSIO, **warn},
            hook="order-sign",
            extra={"indicators": ["warning"]},
        ),
        _order(
            "4 UK mode ratings follow the same rows",
            [_pat(), SCI(days=70), _pt(days=40)],
            [m[22]],
            ["appropriate"],
            {**expect("specialist-review"), **quiet},
            config=UK,
        ),
    ]


ORDERS = _orders()
CASES = [*RADICULAR, *LOCALISATION, *COURSE, *CAUDA, *MOTOR, *RISK, *ORDERS]


def _answer(c: Case, knowledge: Knowledge) -> tuple[Any, dict[str, Any]]:
    request = c.request()
    evaluation = evaluate(
        list(c.resources),
        request.orders_in_scope(),
        hook=c.hook,
        now=r.NOW,
        knowledge=knowledge,
        config=c.config,
    )
    return evaluation, render(evaluation, request, c.config)


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_rule(c: Case, knowledge: Knowledge) -> None:
    evaluation, body = _answer(c, knowledge)
    assert_valid_response(body)
    assert check(c, body) == []
    a = evaluation.assessment
    # The assessment the engine holds, also where no card shows it (the order hooks).
    assert a.disposition == c.expected["disposition"]
    assert {f.id for f in a.red_flags} == set(c.expected["redFlags"])
    for rule in c.rules:
        assert rule in a.rules
    for rule in c.not_rules:
        assert rule not in a.rules
    assert set(c.ces_documented) <= set(a.ces_screen.documented)
    assert set(c.ces_unknown) <= set(a.ces_screen.unknown)
    assert set(c.differentials) <= set(a.differentials)
    if c.weak_flags is not None:
        assert a.weak_flags == c.weak_flags
    if "indicators" in c.extra:
        assert [card["indicator"] for card in body["cards"]] == c.extra["indicators"]
    if c.upgrade is not None:
        assert any(o.upgrade_to_stat for o in evaluation.order_ratings) == c.upgrade
    if "suggests_code" in c.extra:
        codes = {
            coding["code"]
            for card in body["cards"]
            for s in card.get("suggestions", ())
            for action in s.get("actions", ())
            if action["type"] == "create"
            for coding in action["resource"]["code"]["coding"]
        }
        assert c.extra["suggests_code"] in codes
    if c.hook == "patient-view":
        assert all(x == assessments(body)[0] for x in assessments(body))
