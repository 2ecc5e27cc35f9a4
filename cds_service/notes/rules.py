"""The note-reading rules of ``valuesets/notes/``: loaded once, validated, turned into patterns.

Pure Python (no spaCy here): the files are data a clinician reviews, and a mistake in them (an
unknown concept, a kind that does not exist, a regular expression that does not compile) fails
at load time with the file and entry named, never on a patient's call.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cds_service.resources import data_dir

KINDS = frozenset({"pain", "symptom", "strength", "reflex", "sensation", "sign", "ignore"})
EXAM_KINDS = frozenset({"strength", "reflex", "sensation", "sign"})
CATEGORIES = frozenset(
    {
        "NEGATED_EXISTENCE",
        "POSSIBLE_EXISTENCE",
        "HYPOTHETICAL",
        "HISTORICAL",
        "FAMILY",
        "PSEUDO",
        "TERMINATE",
    }
)
_DIRECTIONS = frozenset({"FORWARD", "BACKWARD", "BIDIRECTIONAL", "PSEUDO", "TERMINATE"})
_VALUE_LISTS = ("grade", "reflex", "level", "sign", "side", "duration")
_SIDE_WORDS = [
    "left",
    "right",
    "l",
    "r",
    "lt",
    "rt",
    "bilateral",
    "bilaterally",
    "bilat",
    "l.",
    "r.",
]
_YEAR = r"^(19|20)\d\d$"


class NoteRulesError(ValueError):
    """A file of ``valuesets/notes/`` cannot be used; the message names the file and entry."""


@dataclass(frozen=True)
class ConceptRule:
    """Phrases that name one concept of the input contract (``concepts.json``)."""

    kind: str
    concept: str | None
    phrases: tuple[str, ...]
    present_concepts: tuple[str, ...] = ()
    absent_concepts: tuple[str, ...] = ()
    side: str | None = None
    ces: bool = False
    duration: bool = False
    history_counts: bool = False
    history_concept: str | None = None
    current_counts: bool = True
    polarity: str | None = None  # "absent": the phrase itself says the feature is absent
    bare: str | None = None  # a sign mentioned with no value: "present", "absent" or unknown
    group: bool = False  # "reflexes": stands for several, only when no single one is named

    @property
    def label(self) -> str:
        return self.kind.upper()


@dataclass(frozen=True)
class CueRule:
    """One ConText cue (``context.json``)."""

    category: str
    direction: str
    phrases: tuple[str, ...]
    applies_to: frozenset[str] | None = None
    crosses_clauses: bool = False
    max_scope: int | None = None


@dataclass(frozen=True)
class ValuePattern:
    regex: re.Pattern[str]
    value: Any = None
    group: int | None = None
    fallback: bool = False
    max_angle: int | None = None
    days_per_unit: float | None = None


@dataclass(frozen=True)
class NoteRules:
    concepts: tuple[ConceptRule, ...]
    cues: tuple[CueRule, ...]
    values: Mapping[str, tuple[ValuePattern, ...]]
    numbers: Mapping[str, float]
    units: Mapping[str, float]
    list_words: frozenset[str]
    not_inherited: re.Pattern[str]
    #: sha256 over the three files: part of the cache key and of the knowledge version.
    digest: str = ""
    _by_label: Mapping[str, ConceptRule] = field(default_factory=dict, compare=False, repr=False)


def rules_dir() -> Path:
    return data_dir("valuesets") / "notes"


@cache
def load_note_rules(folder: Path | None = None) -> NoteRules:
    """Read and check ``concepts.json``, ``context.json`` and ``values.json``; call once."""
    folder = folder if folder is not None else rules_dir()
    raw = {name: _read(folder / f"{name}.json") for name in ("concepts", "context", "values")}
    digest = hashlib.sha256(
        json.dumps(raw, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()[:12]
    concepts = tuple(_concept(i, e) for i, e in enumerate(_items(raw["concepts"], "concepts")))
    cues = tuple(_cue(i, e) for i, e in enumerate(_items(raw["context"], "rules")))
    values_doc = raw["values"]
    values = {
        name: tuple(_value(name, i, e) for i, e in enumerate(_items(values_doc, name)))
        for name in _VALUE_LISTS
    }
    return NoteRules(
        concepts=concepts,
        cues=cues,
        values=values,
        numbers={str(k): float(v) for k, v in values_doc.get("numbers", {}).items()},
        units={str(k): float(v) for k, v in values_doc.get("units", {}).items()},
        list_words=frozenset(str(w).lower() for w in raw["context"].get("list_words", [])),
        not_inherited=_compile("values.json not_inherited", values_doc.get("not_inherited", "$^")),
        digest=digest,
    )


def token_patterns(phrase: str) -> list[list[dict[str, Any]]]:
    """A phrase of the mini-syntax as spaCy Matcher patterns (one phrase, one pattern).

    ``a|b`` either word, ``word?`` optional, ``{side}`` an optional side word, ``{any}`` any one
    word, ``{number}`` a number in digits or words, ``{year}`` 1900-2099.
    """
    pattern: list[dict[str, Any]] = []
    for word in phrase.split():
        optional = word.endswith("?") and len(word) > 1
        word = word[:-1] if optional else word
        if word == "{side}":
            spec: dict[str, Any] = {"LOWER": {"IN": _SIDE_WORDS}, "OP": "?"}
        elif word == "{any}":
            spec = {}
        elif word == "{number}":
            spec = {"LIKE_NUM": True}
        elif word == "{year}":
            spec = {"TEXT": {"REGEX": _YEAR}}
        else:
            options = [w.lower() for w in word.split("|") if w]
            spec = {"LOWER": options[0]} if len(options) == 1 else {"LOWER": {"IN": options}}
        if optional:
            spec["OP"] = "?"
        pattern.append(spec)
    return [pattern]


def _concept(index: int, entry: Mapping[str, Any]) -> ConceptRule:
    where = f"concepts.json concepts[{index}]"
    kind = entry.get("kind")
    if kind not in KINDS:
        raise NoteRulesError(f"{where}: kind must be one of {sorted(KINDS)}, not {kind!r}")
    concept = entry.get("concept")
    if kind != "ignore" and not isinstance(concept, str):
        raise NoteRulesError(f"{where}: a concept id is required")
    phrases = _phrases(where, entry)
    return ConceptRule(
        kind=kind,
        concept=concept,
        phrases=phrases,
        present_concepts=tuple(entry.get("present_concepts") or ([concept] if concept else [])),
        absent_concepts=tuple(entry.get("absent_concepts") or ([concept] if concept else [])),
        side=entry.get("side"),
        ces=bool(entry.get("ces")),
        duration=bool(entry.get("duration")),
        history_counts=bool(entry.get("history_counts")),
        history_concept=entry.get("history_concept"),
        current_counts=entry.get("current_counts", True) is not False,
        polarity=entry.get("polarity"),
        bare=entry.get("bare"),
        group=bool(entry.get("group")),
    )


def _cue(index: int, entry: Mapping[str, Any]) -> CueRule:
    where = f"context.json rules[{index}]"
    category, direction = entry.get("category"), entry.get("direction")
    if category not in CATEGORIES:
        raise NoteRulesError(f"{where}: category must be one of {sorted(CATEGORIES)}")
    if direction not in _DIRECTIONS:
        raise NoteRulesError(f"{where}: direction must be one of {sorted(_DIRECTIONS)}")
    applies = entry.get("applies_to")
    kinds: frozenset[str] | None = None
    if applies is not None:
        kinds = frozenset(applies)
        if not kinds <= KINDS:
            raise NoteRulesError(f"{where}: applies_to names an unknown kind")
        if "symptom" in kinds:
            kinds |= {"pain"}  # leg and back pain are symptoms with a duration
    scope = entry.get("max_scope")
    return CueRule(
        category,
        direction,
        _phrases(where, entry),
        kinds,
        bool(entry.get("crosses_clauses")),
        int(scope) if scope is not None else None,
    )


def _value(name: str, index: int, entry: Mapping[str, Any]) -> ValuePattern:
    where = f"values.json {name}[{index}]"
    group = entry.get("group")
    return ValuePattern(
        regex=_compile(where, entry.get("pattern")),
        value=entry.get("value"),
        group=int(group) if group is not None else (1 if name == "duration" else None),
        fallback=bool(entry.get("fallback")),
        max_angle=entry.get("max_angle"),
        days_per_unit=entry.get("days_per_unit"),
    )


def _phrases(where: str, entry: Mapping[str, Any]) -> tuple[str, ...]:
    phrases = entry.get("phrases")
    if (
        not isinstance(phrases, list)
        or not phrases
        or not all(isinstance(p, str) and p.strip() for p in phrases)
    ):
        raise NoteRulesError(f"{where}: phrases must be a non-empty list of strings")
    return tuple(p.strip() for p in phrases)


def _compile(where: str, pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise NoteRulesError(f"{where}: pattern must be a string")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise NoteRulesError(f"{where}: not a valid regular expression ({exc})") from None


def _items(doc: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
    items = doc.get(key)
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise NoteRulesError(f"{key}: a list of objects is required")
    return items


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoteRulesError(f"{path.name}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise NoteRulesError(f"{path.name}: a JSON object is required")
    return doc
