from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cards.summary import LIMIT, summary


def test_short_summary_is_finding_then_action():
    assert summary("Probable left L5 radiculopathy (L4-L5)", "physiotherapy referral") == (
        "Probable left L5 radiculopathy (L4-L5): physiotherapy referral"
    )


def test_without_finding_the_action_stands_alone():
    assert summary("", "physiotherapy referral") == "physiotherapy referral"


def test_long_finding_is_clipped_and_the_action_kept():
    finding = " and ".join(["Suspected cauda equina syndrome"] * 8)
    action = "same-day spinal surgical review and emergency MRI within 4 h"
    text = summary(finding, action)
    assert len(text) < LIMIT
    assert text.endswith(f"…: {action}")
    assert text.startswith("Suspected cauda equina syndrome")


def test_139_characters_pass_untouched_and_140_are_clipped():
    action = "x" * 100
    assert summary("f" * 37, action) == f"{'f' * 37}: {action}"  # 139 characters
    clipped = summary("f" * 38, action)
    assert len(clipped) == LIMIT - 1
    assert clipped.endswith(action)


def test_newlines_and_blank_runs_become_single_spaces():
    assert (
        summary("Sciatica\n\n  (left)", "MRI\tlumbar spine") == "Sciatica (left): MRI lumbar spine"
    )


def test_action_too_long_for_any_finding_clips_the_whole_line():
    text = summary("Sciatica", "y " * 120)
    assert len(text) < LIMIT
    assert text.startswith("Sciatica: y")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400), st.text(max_size=400))
def test_never_reaches_140_characters_whatever_the_input(finding, action):
    assert len(summary(finding, action)) < LIMIT
