import re
from dataclasses import replace

from hypothesis import example, given
from hypothesis import strategies as st

from cds_service.cards.detail import _word, detail, escape
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import CesScreen, Evidence, RedFlag
from tests.cards.factory import CES_FLAG, assessment

CONFIG = ClinicalConfig()


def test_unknown_cauda_equina_items_are_named_as_unknown_not_negative():
    text = detail(assessment(), CONFIG)
    assert "unknown, not negative" in text
    line = next(line for line in text.splitlines() if "unknown, not negative" in line)
    assert "saddle (perineal) numbness" in line
    assert "urinary retention" in line
    assert "- Present: urinary incontinence\n" in text
    assert "- Looked for, not found: symptoms in both legs" in text
    # "Documented" alone read as a red flag on a card that says "no red flags".
    assert "Documented" not in text


def test_no_screening_line_when_every_item_is_documented():
    a = assessment(ces_screen=CesScreen((), ("urinary-retention",), ()))
    text = detail(a, CONFIG)
    assert "unknown, not negative" not in text
    assert "Present" not in text
    assert "- Looked for, not found: urinary retention or difficulty voiding" in text


def test_missing_onset_asks_for_it_with_the_configured_threshold():
    text = detail(assessment(symptom_weeks=None), ClinicalConfig(persistent_weeks=4))
    assert "Onset not documented" in text
    assert "please record when symptoms began" in text
    assert "under 4 weeks" in text
    assert "Onset not documented" not in detail(assessment(), CONFIG)


def test_evidence_of_flags_and_localisation_is_listed():
    text = detail(assessment(red_flags=(CES_FLAG,)), CONFIG)
    assert "Suspected cauda equina syndrome (emergency)" in text
    assert "Urinary incontinence, onset 19 Nov 2026" in text
    assert "Great toe extension 4/5 (left), 20 Nov 2026" in text
    assert "L4-L5 paracentral or L5-S1 far lateral" in text
    assert "- Left L5 root: **probable** (the examination points clearly to this root)" in text
    assert "- Less likely: left S1\n" in text
    assert "20%" not in text and "0.8" not in text  # a word, not a number


def test_weak_flags_differentials_not_counted_and_unavailable_data():
    a = assessment(
        weak_flags=("age-over-50", "weight-loss"),
        differentials=("peripheral-arterial-disease",),
        not_counted=(
            Evidence(
                "Condition/old", "Stress incontinence since 2019 — long-standing, not counted"
            ),
            Evidence("Condition/r33", "Urinary retention — no back pain recorded, not counted"),
        ),
        unavailable_data=("procedures",),
    )
    text = detail(a, CONFIG)
    assert "Age over 50 and unexplained weight loss: noted, urgency unchanged" in text
    assert "Consider peripheral arterial disease" in text
    # The engine's line says why; the detail adds no second (and possibly wrong) reason.
    assert "- Stress incontinence since 2019 — long-standing, not counted\n" in text
    assert text.count("long-standing") == 1
    assert "- Urinary retention — no back pain recorded, not counted" in text
    assert "Procedures: could not be retrieved" in text


def test_sections_without_content_are_left_out():
    a = assessment(ces_screen=CesScreen((), (), ()), localisation=None)
    text = detail(a, CONFIG)
    for heading in (
        "Red flags",
        "Localisation",
        "Cauda equina screen",
        "Weak flags",
        "Differential diagnosis",
        "Not counted",
        "Data not retrieved",
    ):
        assert f"**{heading}**" not in text
    assert "\n\n\n" not in text


def test_record_text_cannot_inject_links_or_html():
    flag = RedFlag(
        "malignancy",
        "urgent",
        ("malignancy/history",),
        (Evidence("Condition/c", "[click](https://evil.example) <img src=x> *bold*"),),
    )
    text = detail(replace(assessment(), red_flags=(flag,)), CONFIG)
    assert not re.search(r"(?<!\\)\[click", text)
    assert not re.search(r"(?<!\\)<img", text)
    # The URL is a code span: cmark-gfm links it in "\[click\](https://…)" despite the escapes.
    assert r"\[click\](`https://evil.example`) \<img src=x\> \*bold\*" in text


def test_escape_keeps_plain_clinical_text_readable():
    assert escape("Great toe extension 4/5 (left),\n20 Nov 2026") == (
        "Great toe extension 4/5 (left), 20 Nov 2026"
    )


@given(st.text(alphabet="aZ9 .,@/:wW\\`*_[]<>|~#()\t\n-", max_size=40))
@example("see a//b and *c*")
@example("www.a [b]")
@example("ask x@y.z _now_")
@example("mailto:q `r`")
def test_a_line_with_no_link_like_word_is_escaped_as_each_word_would_be(text: str) -> None:
    # escape() escapes the whole line at once when nothing in it is link-like: the same text as
    # escaping it word by word, which it still does when something is.
    words = re.sub(r"\s+", " ", text).strip().split(" ")
    assert escape(text) == " ".join(_word(word) for word in words)


def test_the_confidence_reads_possible_below_the_configured_threshold():
    a = assessment(localisation=replace(assessment().localisation, confidence=0.49))
    assert "- Left L5 root: **possible** (" in detail(a, CONFIG)
    assert "**probable**" in detail(a, ClinicalConfig(probable_confidence=0.49))


def test_no_rule_id_or_knowledge_version_in_the_text_a_clinician_reads():
    a = assessment(red_flags=(CES_FLAG,))
    text = detail(a, CONFIG)
    for rule in a.rules:
        assert rule not in text
    assert a.knowledge_version not in text
    assert "`" not in text


def test_partly_read_data_is_said_to_be_partial_not_missing():
    a = assessment(unavailable_data=("imagingStudies", "procedures (partial)"))
    text = detail(a, CONFIG)
    assert "- Imaging studies: could not be retrieved;" in text
    assert "- Procedures: only partly retrieved (further pages could not be read);" in text
