"""The patient's record as indexed findings: what is current, per concept and side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from cds_service.clinical.evaluation import Side
from cds_service.clinical.finding import (
    Finding,
    as_utc,
    parse_instant,
    read_findings,
    stated,
)
from cds_service.clinical.knowledge import Knowledge
from cds_service.fhir_json import reference

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_NONE: Mapping[Any, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Chart:
    """Findings of one patient at one moment, indexed by concept."""

    now: datetime
    findings: tuple[Finding, ...]
    birth: datetime | None = None
    patient: str = "Patient"  # reference of the Patient resource, for evidence
    _index: Mapping[str, tuple[Finding, ...]] | None = None
    _latest: Mapping[str, Mapping[Side | None, Finding]] | None = None
    #: What notes state, by concept (empty for a record without notes: no cost then).
    _noted: Mapping[str, tuple[Finding, ...]] | None = None

    @classmethod
    def read(
        cls,
        record: Sequence[Any],
        knowledge: Knowledge,
        now: datetime,
        notes: Sequence[Finding] = (),
    ) -> Chart:
        """The record's findings, and ``notes``: the findings the notes stage read from text."""
        patient = _patient(record)
        birth = parse_instant(patient.get("birthDate"))
        findings = read_findings(record, knowledge, birth) + tuple(notes)
        index: dict[str, list[Finding]] = {}
        for finding in findings:
            index.setdefault(finding.concept, []).append(finding)
        noted: dict[str, list[Finding]] = {}
        for finding in notes:
            noted.setdefault(finding.concept, []).append(finding)
        return cls(
            as_utc(now),
            findings,
            birth,
            reference(patient) or "Patient",
            {k: tuple(v) for k, v in index.items()},
            {k: MappingProxyType(_latest(v)) for k, v in index.items()},
            {k: tuple(v) for k, v in noted.items()},
        )

    def of(self, concept: str) -> tuple[Finding, ...]:
        return (self._index or {}).get(concept, ())

    def conditions(self, concept: str, *, history: bool = False) -> tuple[Finding, ...]:
        """Conditions of ``concept``: current ones, or with ``history`` all of them."""
        return tuple(
            f for f in self.of(concept) if f.resource_type == "Condition" and (history or f.current)
        )

    def latest(self, concept: str) -> Mapping[Side | None, Finding]:
        """The current Observation per side (bilateral counts for both); None = unsided."""
        return (self._latest or _NONE).get(concept, _NONE)

    def asserted(self, concept: str, *, history: bool = False) -> tuple[Finding, ...]:
        """Facts that say ``concept`` is present: Conditions, current positive Observations,
        and what notes state present unless a newer statement denies it (rules §6.4)."""
        if concept not in (self._index or _NONE):
            # Nothing coded or noted of it (the index holds the notes' findings too): the
            # answer for most of the concepts the rules ask about, 40 of 47 on a typical record.
            return ()
        facts = list(self.conditions(concept, history=history))
        latest = self.latest(concept)
        # Each statement with the sides it holds: per finding and side the newest wins, so a
        # bilateral one superseded on one leg still speaks for the other, and only for it.
        held: dict[Finding, set[Side | None]] = {}
        for side, finding in latest.items():
            if finding.present:
                held.setdefault(finding, set()).add(side)
        for finding in (self._noted or _NONE).get(concept, ()):
            if finding.present and (finding.current or history):
                for side in _standing(finding, latest):
                    held.setdefault(finding, set()).add(side)
        facts.extend(_on(finding, sides) for finding, sides in held.items())
        return tuple(dict.fromkeys(facts))

    def documented(self, concept: str) -> bool:
        """Whether anything was recorded about ``concept``, present or looked for and absent."""
        return any(f.resource_type == "Condition" or f.known for f in self.of(concept))

    @property
    def age_years(self) -> int | None:
        if self.birth is None or self.birth > self.now:
            return None
        years = self.now.year - self.birth.year
        if (self.now.month, self.now.day) < (self.birth.month, self.birth.day):
            years -= 1
        return years


_STATEMENTS = frozenset({"Observation", "DocumentReference"})


def _latest(findings: list[Finding]) -> dict[Side | None, Finding]:
    best: dict[Side | None, Finding] = {}
    for finding in findings:
        if finding.resource_type not in _STATEMENTS or not finding.known or not finding.current:
            continue
        for side in _sides(finding):
            held = best.get(side)
            if held is None or _newer(finding, held):
                best[side] = finding
    return best


def _sides(finding: Finding) -> tuple[Side | None, ...]:
    return ("left", "right") if finding.side == "bilateral" else (finding.side,)


def _newer(a: Finding, b: Finding) -> bool:
    """Whether statement ``a`` supersedes ``b``: the most recent wins, coded or written; on
    the same day a coded Observation beats a note (rules §6.4)."""
    if a.resource_type != b.resource_type:
        when_a, when_b = stated(a), stated(b)
        if when_a is not None and when_b is not None and when_a.date() == when_b.date():
            return a.resource_type == "Observation"
    return _recency(a) > _recency(b)


def _standing(finding: Finding, latest: Mapping[Side | None, Finding]) -> list[Side | None]:
    """The sides on which a note's positive statement stands: those where no newer statement
    denies it."""
    standing: list[Side | None] = []
    for side in _sides(finding):
        best = latest.get(side)
        if best is None or best.present or not _newer(best, finding):
            standing.append(side)
    return standing


def _on(finding: Finding, sides: set[Side | None]) -> Finding:
    """``finding`` as it stands: a bilateral statement held on one side only is of that side."""
    if finding.side == "bilateral" and len(sides) == 1:
        return replace(finding, side=next(iter(sides)))
    return finding


def _recency(finding: Finding) -> tuple[datetime, int, int]:
    # Dated beats undated; at the same moment the more abnormal value wins (safety first), so
    # the answer never depends on the order resources arrive in.
    moment = finding.noted if finding.noted is not None else finding.when
    return (moment or _EARLIEST, _abnormality(finding), -finding.order)


def _abnormality(finding: Finding) -> int:
    if finding.grade is not None:
        return 10 - finding.grade
    if finding.level is not None:
        return ("normal", "reduced", "absent").index(finding.level)
    if finding.quantity is not None:
        return int(min(finding.quantity, 10_000))
    return int(bool(finding.present))


def _patient(record: Sequence[Any]) -> Mapping[str, Any]:
    # The Patient is the first resource of every prefetch, so no exact-dict fast path here.
    for resource in record if isinstance(record, Sequence) else ():
        if isinstance(resource, Mapping) and resource.get("resourceType") == "Patient":
            patient: Mapping[str, Any] = resource
            return patient
    return {}
