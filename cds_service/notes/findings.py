"""Mentions → the clinical engine's ``Finding`` records, by the context rules of §6.3.

- negated: documented absent (``present=False``): fills the cauda-equina screen; for the
  examination only a sign ("no foot drop", "SLR -ve") is recorded absent; a denied graded
  finding ("sensation not tested") is left unknown;
- hypothetical (safety-netting, plans) and family history: ignored;
- historical: counts only where history counts (prior surgery, cancer history, drug use);
- uncertain: a cauda-equina item counts as present (safety first); anything else is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from cds_service.clinical import Finding, Knowledge, Level, NoteFinding, Side
from cds_service.fhir_json import humanise
from cds_service.notes.mention import Mention
from cds_service.notes.rules import EXAM_KINDS

#: Note findings sort after the coded record; ``order`` only breaks exact ties.
ORDER_BASE = 1_000_000


def note_findings(
    mentions: Iterable[Mention],
    reference: str,
    date: datetime,
    knowledge: Knowledge,
    order: int = ORDER_BASE,
) -> Iterator[Finding]:
    for index, mention in enumerate(mentions):
        finding = _finding(mention, reference, date, knowledge, order + index)
        if finding is not None:
            yield finding


def _finding(
    m: Mention, reference: str, date: datetime, knowledge: Knowledge, order: int
) -> Finding | None:
    def note(
        concept: str,
        *,
        when: datetime,
        present: bool | None,
        side: Side | None = None,
        label: str = "",
        current: bool = True,
        grade: int | None = None,
        level: Level | None = None,
    ) -> NoteFinding:
        return NoteFinding(
            concept,
            reference,
            "DocumentReference",
            when,
            current=current,
            present=present,
            grade=grade,
            level=level,
            side=side,
            label=label,
            order=order,
            noted=date,
            quote=m.quote,
        )

    if m.context in ("family", "hypothetical"):
        return None
    if m.context == "historical":
        if not m.history_counts:
            return None
        concept = m.history_concept or m.concept
        return note(
            concept,
            when=date,
            current=False,
            present=True,
            side=_side(m),
            label=_title(knowledge, concept),
        )
    if m.kind in EXAM_KINDS:
        if m.context == "negated" and m.kind == "sign":
            return note(m.concept, when=date, present=False, side=_side(m))
        if m.context != "positive":
            return None  # an uncertain or denied examination finding is not a finding
        return note(
            m.concept,
            when=date,
            present=m.present,
            grade=m.grade,
            level=_level(m),
            side=_side(m),
        )
    if m.context == "negated":
        if m.concept == "radicular-syndrome" and m.side == "bilateral":
            # "No symptoms in both legs" answers the screen's question; it denies no sciatica.
            return note(
                "bilateral-leg-symptoms",
                when=date,
                present=False,
                label="Symptoms in both legs",
            )
        return note(
            m.concept,
            when=date,
            present=False,
            side=_side(m),
            label=_title(knowledge, m.concept),
        )
    if m.context == "uncertain" and not m.ces:
        return None
    if not m.current_counts:
        return None  # "discectomy" unqualified may be planned: only a past one counts
    when = date - timedelta(days=m.duration_days) if m.duration_days else date
    label = _title(knowledge, m.concept)
    if m.concept == "radicular-syndrome" and m.side == "bilateral":
        label = "Radicular symptoms in both legs"
    if m.context == "uncertain":
        label += " (possible: counted, safety first)"
    return note(m.concept, when=when, present=True, side=_side(m), label=label)


#: The engine's sides and levels; a note's word outside them is left unknown.
_SIDES: dict[str | None, Side] = {"left": "left", "right": "right", "bilateral": "bilateral"}
_LEVELS: dict[str | None, Level] = {"normal": "normal", "reduced": "reduced", "absent": "absent"}


def _side(m: Mention) -> Side | None:
    return _SIDES.get(m.side)


def _level(m: Mention) -> Level | None:
    return _LEVELS.get(m.level)


def _title(knowledge: Knowledge, concept: str) -> str:
    try:
        return knowledge.title(concept)
    except KeyError:
        return humanise(concept).capitalize()
