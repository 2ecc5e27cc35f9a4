"""What one reading of a note yields: mentions of concepts, each with its context and value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: How a mention counts (decision-rules §6.3), in the order the classes take precedence.
Context = Literal["family", "hypothetical", "negated", "historical", "uncertain", "positive"]
CONTEXTS: tuple[Context, ...] = (
    "family",
    "hypothetical",
    "negated",
    "historical",
    "uncertain",
    "positive",
)


@dataclass(frozen=True)
class Mention:
    """One concept named in one sentence of a note, as the text puts it.

    Independent of the note's date and id, so that one parse serves every call that sees the
    same text (the cache stores these).
    """

    concept: str
    kind: str  # pain, symptom, strength, reflex, sensation, sign
    context: Context
    matched: str  # the words that named it, e.g. "EHL"
    quote: str  # the sentence (at most 160 characters), whitespace collapsed
    start: int  # the matched words' character offsets in the note's text
    end: int
    side: str | None = None
    present: bool | None = None  # signs and symptoms: True / False; None for graded values
    grade: int | None = None  # MRC 0-5, reflex 0-4
    level: str | None = None  # normal / reduced / absent
    duration_days: float | None = None  # "3 weeks of left sciatica" -> 21.0
    ces: bool = False  # a cauda-equina item: an uncertain mention counts (safety first)
    history_counts: bool = False  # prior surgery, cancer, drug use: history counts
    history_concept: str | None = None  # the concept a historical mention is ("malignancy-history")
    current_counts: bool = True  # False: only a historical mention counts (prior surgery)
