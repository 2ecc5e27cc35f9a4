"""Properties of ``evaluate`` over generated records (bounded: modest examples, no deadline)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.clinical.engine import evaluate
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_TIER = {None: 0, "urgent": 1, "emergency": 2}

_CONDITION_CODES = [
    (r.ICD, "M54.42"),
    (r.ICD, "M54.31"),
    (r.ICD, "M5416"),
    (r.ICD, "M54.50"),
    (r.ICD, "M48.062"),
    (r.ICD, "G83.4"),
    (r.ICD, "R33.9"),
    (r.ICD, "R32"),
    (r.ICD, "R15.9"),
    (r.ICD, "C61"),
    (r.ICD, "Z85.3"),
    (r.ICD, "B20"),
    (r.ICD, "R50.9"),
    (r.ICD, "M81.0"),
    (r.ICD, "M96.1"),
    (r.ICD, "M21.372"),
    (r.ICD, "I73.9"),
    (r.SCT, "228388006"),
    (r.SCT, "71286001"),
    (r.SCT, "56925008"),
    (r.ICD, "I10"),
    (r.SCT, "999999"),
]
_EXAM_CODES = [
    "strength-hip-flexion",
    "strength-knee-extension",
    "strength-great-toe-extension",
    "strength-ankle-plantarflexion",
    "reflex-patellar",
    "reflex-achilles",
    "sensation-dorsum-foot",
    "sensation-saddle",
    "straight-leg-raise",
    "crossed-straight-leg-raise",
    "babinski",
    "anal-tone",
    "post-void-residual",
]
_dates = st.one_of(
    st.none(),
    st.integers(-30, 4000).map(r.ago),
    st.sampled_from(["2026", "2026-11", "x", ""]),
    st.integers(0, 4000).map(lambda d: r.ago(d)[:10]),
)
_junk = st.dictionaries(
    st.sampled_from(["extension", "note", "meta", "valueString", "foo"]),
    st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2)),
    max_size=2,
)
_sides = st.sampled_from([None, "left", "right", "bilateral"])
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1, 6),
    st.sampled_from(["normal", "reduced", "absent", "present", "weird"]),
    st.tuples(st.floats(0, 2000, allow_nan=False), st.sampled_from(["mL", "L", "kg", ""])),
)


@st.composite
def conditions(draw: Any, verification: Any = None) -> dict[str, Any]:
    system, code = draw(st.sampled_from(_CONDITION_CODES))
    res = r.condition(
        code,
        system,
        days=None,
        side=draw(_sides),
        clinical=draw(st.sampled_from([None, "active", "resolved", "remission", "odd"])),
        verification=verification
        or draw(st.sampled_from([None, "confirmed", "unconfirmed", "refuted", "entered-in-error"])),
    )
    res["onsetDateTime"] = draw(_dates)
    res["recordedDate"] = draw(_dates)
    res.update(draw(_junk))
    return res


@st.composite
def observations(draw: Any, status: Any = None) -> dict[str, Any]:
    value = draw(_values)
    res = r.exam(
        draw(st.sampled_from(_EXAM_CODES)),
        value,
        side=draw(_sides),
        days=None,
        status=status
        or draw(
            st.sampled_from(["final", "amended", "preliminary", "cancelled", "entered-in-error"])
        ),
    )
    res["effectiveDateTime"] = draw(_dates)
    res.update(draw(_junk))
    return res


records = st.lists(
    st.one_of(
        conditions(),
        observations(),
        st.builds(r.temperature, st.floats(30, 110), st.sampled_from(["Cel", "[degF]", "K"])),
    ),
    max_size=10,
)


def _assess(record: list[dict[str, Any]], knowledge: Knowledge) -> Any:
    evaluation = evaluate(
        [r.patient("1970-05-05"), *record],
        [r.draft_mri()],
        hook="order-sign",
        now=r.NOW,
        knowledge=knowledge,
    )
    # References differ by construction; compare what the rules concluded.
    a = evaluation.assessment
    return (
        a.disposition,
        tuple(f.id for f in a.red_flags),
        a.localisation and (a.localisation.root, a.localisation.side),
        a.symptom_weeks,
        a.ces_screen,
        a.differentials,
        a.rules,
        tuple(x.rating for x in evaluation.order_ratings),
    )


@SETTINGS
@given(records)
def test_never_raises(knowledge: Knowledge, record: list[dict[str, Any]]) -> None:
    evaluation = evaluate(record, record, hook="order-sign", now=r.NOW, knowledge=knowledge)
    assert evaluation.assessment.to_extension()["disposition"]


@SETTINGS
@given(
    records,
    st.lists(
        st.one_of(
            conditions(verification="entered-in-error"),
            conditions(verification="refuted"),
            observations(status="entered-in-error"),
            observations(status="cancelled"),
            st.builds(lambda: {"resourceType": "Encounter", "id": "e", "status": "finished"}),
            st.builds(lambda: r.condition("I10")),
            st.builds(lambda: r.condition("999", r.SCT)),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_unrelated_or_voided_resources_change_nothing(
    knowledge: Knowledge, record: list[dict[str, Any]], noise: list[dict[str, Any]]
) -> None:
    assert _assess(record + noise, knowledge) == _assess(record, knowledge)


@SETTINGS
@given(
    records,
    st.sampled_from(["267064002", "72042002", "56925008", "165232002"]),
    st.sampled_from([False, "2667000", "260385009"]),
)
def test_a_negated_finding_never_raises_a_flag(
    knowledge: Knowledge, record: list[dict[str, Any]], code: str, value: Any
) -> None:
    before = _assess(record, knowledge)
    after = _assess([*record, r.observed(code, value=value)], knowledge)
    assert set(after[1]) <= set(before[1])


@SETTINGS
@given(
    records,
    st.sampled_from(
        [
            (lambda: r.condition("G83.4", days=1), False),
            (lambda: r.condition("71286001", r.SCT), False),
            (lambda: r.exam("strength-ankle-plantarflexion", 1, side="left"), True),
            (lambda: r.exam("anal-tone", "absent"), True),
        ]
    ),
)
def test_an_emergency_finding_never_lowers_the_tier(
    knowledge: Knowledge, record: list[dict[str, Any]], finding: tuple[Any, bool]
) -> None:
    make, needs_back_pain = finding
    base = evaluate(record, [], hook="patient-view", now=r.NOW, knowledge=knowledge)
    more = evaluate([*record, make()], [], hook="patient-view", now=r.NOW, knowledge=knowledge)
    # Rules §2: the two diagnoses stand alone; an exam finding is a red flag of back pain only.
    if more.assessment.back_pain or not needs_back_pain:
        assert more.assessment.tier == "emergency"
    else:
        assert more.assessment.red_flags == base.assessment.red_flags
    assert _TIER[more.assessment.tier] >= _TIER[base.assessment.tier]
