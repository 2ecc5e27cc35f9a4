"""The patient's record as indexed findings: what is current, per concept and side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from cds_service.clinical.evaluation import Side
from cds_service.clinical.finding import Finding, as_utc, parse_instant, read_findings
from cds_service.clinical.knowledge import Knowledge

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

    @classmethod
    def read(cls, record: Sequence[Any], knowledge: Knowledge, now: datetime) -> Chart:
        patient = _patient(record)
        birth = parse_instant(patient.get("birthDate"))
        findings = read_findings(record, knowledge, birth)
        index: dict[str, list[Finding]] = {}
        for finding in findings:
            index.setdefault(finding.concept, []).append(finding)
        return cls(
            as_utc(now), findings, birth, _reference(patient),
            {k: tuple(v) for k, v in index.items()},
            {k: MappingProxyType(_latest(v)) for k, v in index.items()},
        )

    def of(self, concept: str) -> tuple[Finding, ...]:
        return (self._index or {}).get(concept, ())

    def conditions(self, concept: str, *, history: bool = False) -> tuple[Finding, ...]:
        """Conditions of ``concept``: current ones, or with ``history`` all of them."""
        return tuple(
            f for f in self.of(concept)
            if f.resource_type == "Condition" and (history or f.current)
        )

    def latest(self, concept: str) -> Mapping[Side | None, Finding]:
        """The current Observation per side (bilateral counts for both); None = unsided."""
        return (self._latest or _NONE).get(concept, _NONE)

    def asserted(self, concept: str, *, history: bool = False) -> tuple[Finding, ...]:
        """Facts that say ``concept`` is present: Conditions and current positive Observations."""
        facts = list(self.conditions(concept, history=history))
        facts.extend(f for f in self.latest(concept).values() if f.present)
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


def _latest(findings: list[Finding]) -> dict[Side | None, Finding]:
    best: dict[Side | None, Finding] = {}
    for finding in findings:
        if finding.resource_type != "Observation" or not finding.known:
            continue
        sides: tuple[Side | None, ...] = (
            ("left", "right") if finding.side == "bilateral" else (finding.side,)
        )
        for side in sides:
            if side not in best or _recency(finding) > _recency(best[side]):
                best[side] = finding
    return best


def _recency(finding: Finding) -> tuple[datetime, int, int]:
    # Dated beats undated; at the same moment the more abnormal value wins (safety first), so
    # the answer never depends on the order resources arrive in.
    return (finding.when or _EARLIEST, _abnormality(finding), -finding.order)


def _abnormality(finding: Finding) -> int:
    if finding.grade is not None:
        return 10 - finding.grade
    if finding.level is not None:
        return ("normal", "reduced", "absent").index(finding.level)
    if finding.quantity is not None:
        return int(min(finding.quantity, 10_000))
    return int(bool(finding.present))


def _patient(record: Sequence[Any]) -> Mapping[str, Any]:
    for resource in record if isinstance(record, Sequence) else ():
        if isinstance(resource, Mapping) and resource.get("resourceType") == "Patient":
            return resource
    return {}


def _reference(patient: Mapping[str, Any]) -> str:
    ident = patient.get("id")
    return f"Patient/{ident}" if isinstance(ident, str) and ident else "Patient"
