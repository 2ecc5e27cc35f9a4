"""The README's table of note phrasings: each sentence, its context class, and its outcome."""

from __future__ import annotations

import pytest

from tests.notes.outcome import findings, outcome
from tests.notes.phrasings import PHRASINGS


@pytest.mark.parametrize(
    ("sentence", "concept", "context", "expected"),
    PHRASINGS,
    ids=[row[0][:40] for row in PHRASINGS],
)
def test_phrasing(pipeline, knowledge, sentence, concept, context, expected):
    assert outcome(findings(pipeline, knowledge, sentence), concept) == expected
