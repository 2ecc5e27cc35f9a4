"""Safety properties of note reading (issue 14 §6), over generated wordings.

- negating a positive cauda-equina sentence never produces the flag;
- wrapping it in safety-netting advice never produces it;
- the same finding as "history of ... in 2010" is never current;
- any text at all is read without an error, and every finding it gives cites its note.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.clinical.red_flag import CES_SYMPTOMS
from tests.notes.corpus import CES_WORDINGS
from tests.notes.outcome import REFERENCE, findings

_ITEMS = [item for item in CES_WORDINGS if item != "bilateral-symptoms"]
_CES = frozenset({*CES_SYMPTOMS, "cauda-equina-syndrome", "radicular-syndrome"})
wordings = st.sampled_from(
    [(item, w) for item in _ITEMS for w in CES_WORDINGS[item] if not w.startswith("not ")]
)
times = st.sampled_from(["", " since yesterday", " for 2 days", " overnight", " today"])
NEGATIONS = [
    "No {w}{t}.",
    "Denies {w}{t}.",
    "{W}: denied.",
    "Nil {w}.",
    "No evidence of {w}.",
    "Patient denies any {w}{t}.",
    "Without {w}.",
    "{W} - none.",
]
SAFETY_NETS = [
    "Return if {w} develops.",
    "Advised to return immediately if {w} develops.",
    "Should he notice {w}, attend ED.",
    "Safety-netted: return urgently if {w}.",
    "If {w} occurs, call 999.",
    "Seek urgent help if {w}.",
    "Safety netting: {w}, leg weakness.",
    "Warned about {w}.",
]
HISTORY = [
    "History of {w} in 2010.",
    "h/o {w} in 2010.",
    "PMH: {w} in 2010.",
    "Previous {w} in 2010.",
]
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _fill(template: str, word: str, time: str) -> str:
    return template.format(w=word, W=word[:1].upper() + word[1:], t=time)


def _flags(found) -> list:  # type: ignore[no-untyped-def]
    return [f for f in found if f.concept in _CES and f.present and f.current]


@SETTINGS
@given(wording=wordings, time=times, template=st.sampled_from(NEGATIONS))
def test_a_negated_ces_sentence_never_raises_the_flag(pipeline, knowledge, wording, time, template):
    _, word = wording
    assert _flags(findings(pipeline, knowledge, f"{word[:1].upper()}{word[1:]}{time}.")), word
    assert _flags(findings(pipeline, knowledge, _fill(template, word, time))) == []


@SETTINGS
@given(wording=wordings, time=times, template=st.sampled_from(SAFETY_NETS))
def test_safety_netting_never_raises_the_flag(pipeline, knowledge, wording, time, template):
    _, word = wording
    assert _flags(findings(pipeline, knowledge, _fill(template, word, time))) == []


@SETTINGS
@given(wording=wordings, template=st.sampled_from(HISTORY))
def test_history_in_2010_is_never_current(pipeline, knowledge, wording, template):
    _, word = wording
    found = findings(pipeline, knowledge, _fill(template, word, ""))
    assert [f for f in found if f.present and f.current] == []


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_text_is_read_without_error_and_cites_its_note(pipeline, knowledge, text):
    for finding in findings(pipeline, knowledge, text):
        assert finding.reference == REFERENCE
        assert finding.resource_type == "DocumentReference"
        assert finding.quote is not None and len(finding.quote) <= 160
