"""The medspaCy pipeline that reads a note: sentences, concepts, context, then values.

spaCy and medspaCy are imported here only, inside :func:`build_pipeline`, which the service runs
once in a background thread at start-up: a call without notes never imports or pays for them.

- PyRuSH (medspaCy's rule-based clinical sentence splitter), then a small fix-up that also
  breaks after a full stop followed by a capital ("SLR +ve L. EHL 4/5 L" is two sentences).
- medspaCy's TargetMatcher with the phrases of ``valuesets/notes/concepts.json``.
- medspaCy's ConText with the cues of ``valuesets/notes/context.json``. A cue stops at a comma,
  semicolon, bracket or spaced dash unless what lies between is a plain list of findings
  ("denies saddle numbness, retention or incontinence"): "No trauma, urinary retention since
  yesterday" must not deny the retention.
- Values (grade, reflex, sensation level, sign, side, duration) from the regular expressions of
  ``valuesets/notes/values.json``, read within the clause that holds the concept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cds_service.notes.mention import Context, Mention
from cds_service.notes.rules import (
    EXAM_KINDS,
    ConceptRule,
    NoteRules,
    NoteRulesError,
    token_patterns,
)

#: Longest quote shown on a card (decision-rules §6.5).
QUOTE_MAX = 160
_BREAKS = frozenset({",", ";", "—", "–"})
_SENTENCE_FIX = "radix_sentence_breaks"
_CUE_ORDER: tuple[tuple[str, Context], ...] = (
    ("FAMILY", "family"),
    ("HYPOTHETICAL", "hypothetical"),
    ("NEGATED_EXISTENCE", "negated"),
    ("HISTORICAL", "historical"),
    ("POSSIBLE_EXISTENCE", "uncertain"),
)
_VALUE_LIST = {"strength": "grade", "reflex": "reflex", "sensation": "level", "sign": "sign"}
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class _Value:
    start: int
    end: int
    value: Any
    fallback: bool


class NotePipeline:
    """A built pipeline: ``read(text)`` gives the mentions of one note's text."""

    def __init__(self, nlp: Any, rules: NoteRules) -> None:
        self._nlp = nlp
        self._rules = rules

    def read(self, text: str) -> list[Mention]:
        doc = self._nlp(text)
        return list(dict.fromkeys(_mentions(doc, self._rules)))


def build_pipeline(rules: NoteRules) -> NotePipeline:
    """Import spaCy / medspaCy and build the pipeline (about 1.5 s, done once)."""
    from loguru import logger

    logger.disable("PyRuSH")  # PyRuSH logs every sentence at DEBUG through loguru
    import medspacy
    from medspacy.context import ConTextRule
    from medspacy.target_matcher import TargetRule
    from spacy.language import Language

    if not Language.has_factory(_SENTENCE_FIX):
        Language.component(_SENTENCE_FIX, func=_break_after_full_stops)
    nlp = medspacy.load(medspacy_enable=["medspacy_pyrush", "medspacy_target_matcher"])
    nlp.add_pipe(_SENTENCE_FIX, after="medspacy_pyrush")
    matcher = nlp.get_pipe("medspacy_target_matcher")
    matcher.add(
        [
            TargetRule(
                phrase, rule.label, pattern=token_patterns(phrase)[0], metadata={"rule": index}
            )
            for index, rule in enumerate(rules.concepts)
            for written in rule.phrases
            for phrase in _expanded(nlp, written)
        ]
    )
    context = nlp.add_pipe("medspacy_context", config={"rules": None})
    stays_in_clause = _clause_rule(rules.list_words)
    context.add(
        [
            ConTextRule(
                phrase,
                cue.category,
                pattern=token_patterns(phrase)[0],
                direction=cue.direction,
                allowed_types={k.upper() for k in cue.applies_to} if cue.applies_to else None,
                max_scope=cue.max_scope,
                on_modifies=None
                if cue.crosses_clauses or cue.direction in ("PSEUDO", "TERMINATE")
                else stays_in_clause,
            )
            for cue in rules.cues
            for written in cue.phrases
            for phrase in _expanded(nlp, written)
        ]
    )
    return NotePipeline(nlp, rules)


def _expanded(nlp: Any, phrase: str) -> list[str]:
    """The phrase with every word the tokenizer splits ("can't", "s/p", "long-standing")
    written as the tokens it becomes, so that the matcher, which compares token by token, can
    find it; a word with such alternatives becomes several phrases."""
    variants: list[list[str]] = [[]]
    for word in phrase.split():
        optional = word.endswith("?") and len(word) > 1
        word = word[:-1] if optional else word
        mark = "?" if optional else ""
        if word.startswith("{"):
            choices = [word + mark]
        else:
            single = [o for o in word.split("|") if o and len(nlp.tokenizer(o)) == 1]
            several = [o for o in word.split("|") if o and len(nlp.tokenizer(o)) > 1]
            choices = (["|".join(single) + mark] if single else []) + [
                " ".join(t.text + mark for t in nlp.tokenizer(o)) for o in several
            ]
        if not choices:
            raise NoteRulesError(f"phrase {phrase!r}: an empty word")
        variants = [[*v, c] for v in variants for c in choices]
    return [" ".join(v) for v in variants]


def _break_after_full_stops(doc: Any) -> Any:
    for token in doc[1:]:
        before = doc[token.i - 1]
        full_stop = before.text.endswith(".") and len(before.text) <= 3
        if (full_stop and not token.text[:1].islower()) or "\n" in (before.text, token.text):
            token.is_sent_start = True
    return doc


def _clause_rule(list_words: frozenset[str]) -> Any:
    def stays_in_clause(target: Any, modifier: Any, _: Any) -> bool:
        # The words strictly between cue and target (medspaCy's own span includes the cue).
        doc = target.doc
        if modifier.start >= target.end:
            between = doc[target.end : modifier.start]
        else:
            between = doc[modifier.end : target.start]
        if not any(_is_break(t) for t in between):
            return True
        in_targets = _target_tokens(target.doc)
        return all(
            _is_break(t) or t.i in in_targets or t.lower_ in list_words or t.is_space
            for t in between
        )

    return stays_in_clause


def _target_tokens(doc: Any) -> frozenset[int]:
    cached = doc.user_data.get("radix_targets")
    if cached is None:
        cached = frozenset(i for ent in doc.ents for i in range(ent.start, ent.end))
        doc.user_data["radix_targets"] = cached
    return cached  # type: ignore[no-any-return]


def _is_break(token: Any) -> bool:
    if token.text in _BREAKS:
        return True
    # A dash with spaces around it ("retention - possible") separates; "high-stepping" does not.
    return (
        token.text in ("-", "--")
        and bool(token.whitespace_)
        and token.i > 0
        and bool(token.doc[token.i - 1].whitespace_)
    )


# --- from a parsed document to mentions ---------------------------------------------------------


def _mentions(doc: Any, rules: NoteRules) -> Iterator[Mention]:
    for sentence in doc.sents:
        targets = [e for e in doc.ents if sentence.start <= e.start < sentence.end]
        if not targets:
            continue

        def quote(ent: Any, sentence: Any = sentence) -> str:
            return _quote(doc.text, sentence, ent.start_char, ent.end_char)

        previous: list[tuple[Any, ConceptRule]] = []
        for clause in _clauses(sentence):
            here = [
                (e, rules.concepts[_rule_of(e)])
                for e in targets
                if clause[0] <= e.start < clause[1]
            ]
            here = [(e, r) for e, r in here if r.kind != "ignore"]
            text_start = doc[clause[0]].idx
            text_end = doc[clause[1] - 1].idx + len(doc[clause[1] - 1].text)
            span_text = doc.text[text_start:text_end]
            if not here:
                # "SLR +ve L at 40°, -ve R": the second clause speaks of the first's test.
                if previous and not rules.not_inherited.search(span_text):
                    yield from _exam(previous, span_text, text_start, rules, quote, inherited=True)
                continue
            exam = [(e, r) for e, r in here if r.kind in EXAM_KINDS]
            yield from _exam(exam, span_text, text_start, rules, quote)
            for ent, rule in here:
                if rule.kind not in EXAM_KINDS:
                    yield from _symptom(ent, rule, span_text, sentence, rules, quote)
            previous = exam or previous


def _rule_of(ent: Any) -> int:
    return int(ent._.target_rule.metadata["rule"])


def _clauses(sentence: Any) -> Iterator[tuple[int, int]]:
    start = sentence.start
    for token in sentence:
        if _is_break(token):
            if token.i > start:
                yield start, token.i
            start = token.i + 1
    if start < sentence.end:
        yield start, sentence.end


def _context(ent: Any, rule: ConceptRule) -> Context:
    categories = {m.category for m in ent._.modifiers}
    for category, context in _CUE_ORDER:
        if category in categories:
            return context
    return "negated" if rule.polarity == "absent" else "positive"


def _symptom(
    ent: Any, rule: ConceptRule, clause: str, sentence: Any, rules: NoteRules, quote: Any
) -> Iterator[Mention]:
    context = _context(ent, rule)
    if rule.polarity == "absent" and context == "positive":
        context = "negated"
    concepts = rule.absent_concepts if context == "negated" else rule.present_concepts
    side = rule.side or _side_of_clause(clause, rules)
    duration = None
    if rule.duration:
        duration = _duration(clause, rules)
        if duration is None:
            duration = _duration(sentence.text, rules)
    for concept in concepts:
        yield _mention(
            concept,
            rule,
            context,
            ent,
            quote,
            side,
            present=context != "negated",
            duration_days=duration,
            ces=rule.ces,
            history_counts=rule.history_counts,
            history_concept=rule.history_concept,
            current_counts=rule.current_counts,
        )


def _exam(
    targets: list[tuple[Any, ConceptRule]],
    clause: str,
    offset: int,
    rules: NoteRules,
    quote: Any,
    *,
    inherited: bool = False,
) -> Iterator[Mention]:
    sides = _matches(clause, rules.values["side"], offset)
    # "EHL 4/5 L and reflexes normal": the generic "reflexes" stands only when no reflex is named.
    named = {r.kind for _, r in targets if not r.group}
    for index, (ent, rule) in enumerate(targets):
        if rule.group and rule.kind in named:
            continue
        values = _values_for(index, targets, clause, offset, rules, inherited)
        context = _context(ent, rule)
        if not values:
            if not inherited and rule.kind == "sign" and (context == "negated" or rule.bare):
                present = context != "negated" and rule.bare != "absent"
                if rule.bare == "absent" and context == "negated":
                    continue
                side = _side_near(ent.start_char, ent.end_char, sides) or rule.side
                for concept in rule.present_concepts:
                    yield _mention(concept, rule, context, ent, quote, side, present=present)
            continue
        for value in values:
            side = (
                _side_near(value.start, value.end, sides)
                or _side_near(ent.start_char, ent.end_char, sides)
                or rule.side
            )
            for concept in rule.present_concepts:
                yield _mention(concept, rule, context, ent, quote, side, **_as_field(rule, value))


def _mention(
    concept: str,
    rule: ConceptRule,
    context: Context,
    ent: Any,
    quote: Any,
    side: str | None,
    **value: Any,
) -> Mention:
    return Mention(
        concept,
        rule.kind,
        context,
        ent.text,
        quote(ent),
        ent.start_char,
        ent.end_char,
        side=side,
        **value,
    )


def _as_field(rule: ConceptRule, value: _Value) -> dict[str, Any]:
    if rule.kind == "sign":
        return {"present": bool(value.value)}
    if rule.kind == "sensation":
        return {"level": value.value}
    return {"grade": int(value.value)}


def _values_for(
    index: int,
    targets: list[tuple[Any, ConceptRule]],
    clause: str,
    offset: int,
    rules: NoteRules,
    inherited: bool,
) -> list[_Value]:
    """The values that speak of target ``index``: after it (up to the next target of its
    kind), else before it (back to the previous one), else anywhere in the clause."""
    ent, rule = targets[index]
    found = _matches(clause, rules.values[_VALUE_LIST[rule.kind]], offset, rule.kind == "sign")
    if not found:
        return []
    if not inherited:
        same = [e for e, r in targets if r.kind == rule.kind and e is not ent]
        after_end = min(
            (e.start_char for e in same if e.start_char > ent.start_char),
            default=offset + len(clause),
        )
        before_start = max(
            (e.end_char for e in same if e.end_char <= ent.start_char), default=offset
        )
        for window in ((ent.end_char, after_end), (before_start, ent.start_char)):
            inside = [v for v in found if window[0] <= v.start and v.end <= window[1]]
            if inside:
                found = inside
                break
    primary = [v for v in found if not v.fallback]
    return primary or found


def _matches(clause: str, patterns: Any, offset: int, signs: bool = False) -> list[_Value]:
    """Every non-overlapping match of the value patterns in ``clause`` (earlier patterns win)."""
    taken: list[_Value] = []
    for pattern in patterns:
        for match in pattern.regex.finditer(clause):
            start, end = match.span()
            if any(start < t.end - offset and t.start - offset < end for t in taken):
                continue
            if pattern.group is not None and pattern.value is None:
                raw = match.group(pattern.group)
                if pattern.max_angle is not None:  # an SLR angle: positive below the limit
                    if int(raw) >= pattern.max_angle:
                        continue
                    value: Any = True
                else:
                    value = int(raw)
            else:
                value = pattern.value
            taken.append(_Value(start + offset, end + offset, value, pattern.fallback))
    return sorted(taken, key=lambda v: v.start)


def _side_near(start: int, end: int, sides: list[_Value]) -> str | None:
    if not sides:
        return None

    def distance(side: _Value) -> tuple[int, int]:
        gap = side.start - end if side.start >= end else start - side.end
        return (max(gap, 0), 0 if side.start >= end else 1)  # ties: the side written after

    return str(min(sides, key=distance).value)


def _side_of_clause(clause: str, rules: NoteRules) -> str | None:
    sides = {v.value for v in _matches(clause, rules.values["side"], 0)}
    if "bilateral" in sides or {"left", "right"} <= sides:
        return "bilateral"
    return str(next(iter(sides))) if sides else None


def _duration(text: str, rules: NoteRules) -> float | None:
    for pattern in rules.values["duration"]:
        match = pattern.regex.search(text)
        if match is None:
            continue
        amount = match.group(1).lower()
        number = float(amount) if amount.isdigit() else rules.numbers.get(amount)
        if number is None:
            continue
        if pattern.days_per_unit is not None:
            return number * pattern.days_per_unit
        unit = (
            rules.units.get(match.group(2).lower())
            if match.lastindex and match.lastindex >= 2
            else None
        )
        if unit is not None:
            return number * unit
    return None


def _quote(text: str, sentence: Any, start: int, end: int) -> str:
    """The sentence, or the 160 characters of it around the words that named the concept."""
    whole = _WHITESPACE.sub(" ", text[sentence.start_char : sentence.end_char]).strip()
    if len(whole) <= QUOTE_MAX:
        return whole
    first = max(sentence.start_char, min(start - 40, end - QUOTE_MAX + 2))
    part = _WHITESPACE.sub(" ", text[first : first + QUOTE_MAX * 2]).strip()[: QUOTE_MAX - 2]
    return ("…" if first > sentence.start_char else "") + part.rstrip() + "…"
