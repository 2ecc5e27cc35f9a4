"""Clinical cases as vignettes: the shape, date shifting, and the developers' shared set.

The project's own cases (tests/cases.py) are ``Vignette``s. The developers' shared set
(``../shared/clinical/vignettes`` and, beside it, the note cases ``vignettes-notes``, or the
folders ``RADIX_VIGNETTES_DIR`` names, separated by ``os.pathsep``) is run in addition when it is
there: a user's clone has no such folder and runs the project's own cases only. When
``RADIX_VIGNETTES_DIR`` is set (CI sets it), every folder it names must exist and hold cases, or
collection fails: a promised set is never skipped silently.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "clinical"
_BESIDE_CHECKOUT = (_SHARED / "vignettes", _SHARED / "vignettes-notes")
# FHIR date (YYYY-MM-DD) and dateTime / instant with a time and a zone (Z or ±hh:mm).
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class Vignette:
    id: str
    path: Path | None  # the file of a shared vignette; None for the project's own cases
    description: str
    as_of: datetime
    hook: str
    context: dict[str, Any]
    resources: list[dict[str, Any]]
    expected: dict[str, Any]

    @property
    def draft_orders(self) -> list[dict[str, Any]]:
        bundle = self.context.get("draftOrders") or {}
        return [e["resource"] for e in bundle.get("entry", []) if "resource" in e]

    @property
    def orders_in_scope(self) -> list[dict[str, Any]]:
        """Selected drafts on order-select, all drafts on order-sign, none on patient-view."""
        if self.hook == "order-sign":
            return self.draft_orders
        if self.hook == "order-select":
            selected = set(self.context.get("selections", []))
            return [
                order
                for order in self.draft_orders
                if f"{order.get('resourceType')}/{order.get('id')}" in selected
            ]
        return []

    def shifted(self, now: datetime) -> Vignette:
        """The same case with every date moved so that ``as_of`` becomes ``now``."""
        delta = now - self.as_of
        return Vignette(
            self.id,
            self.path,
            self.description,
            now,
            self.hook,
            shift_dates(self.context, delta),
            shift_dates(self.resources, delta),
            self.expected,
        )


def every_case() -> list[Vignette]:
    """The project's own cases, then the shared set when present."""
    from tests.cases import own_cases

    return [*own_cases(), *shared_vignettes()]


def shared_vignettes() -> list[Vignette]:
    """The developers' shared cases when present (see the module docstring), else none."""
    configured = os.environ.get("RADIX_VIGNETTES_DIR", "").strip()
    if not configured:
        return [
            case
            for folder in _BESIDE_CHECKOUT
            if folder.is_dir()
            for case in load_vignettes(folder)
        ]
    cases = []
    for folder in (Path(f) for f in configured.split(os.pathsep) if f.strip()):
        found = load_vignettes(folder) if folder.is_dir() else []
        if not found:
            raise FileNotFoundError(f"RADIX_VIGNETTES_DIR names {folder}, which holds no vignette")
        cases.extend(found)
    return cases


def load_vignettes(folder: Path) -> list[Vignette]:
    """Every ``*.json`` case in the folder, sorted by file name."""
    cases = []
    for path in sorted(folder.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        cases.append(
            Vignette(
                id=raw["id"],
                path=path,
                description=raw.get("description", ""),
                as_of=_parse(raw["asOf"]),
                hook=raw["hook"],
                context=raw.get("context", {}),
                resources=raw.get("resources", []),
                expected=raw["expected"],
            )
        )
    return cases


def shift_dates(obj: Any, delta: timedelta) -> Any:
    """Move every FHIR dateTime / instant by ``delta`` and every date by its whole days.

    Strings that are not a FHIR date (partial dates like ``2026-11`` included) are kept as is.
    """
    if isinstance(obj, dict):
        return {key: shift_dates(value, delta) for key, value in obj.items()}
    if isinstance(obj, list):
        return [shift_dates(value, delta) for value in obj]
    if isinstance(obj, str):
        return _shift(obj, delta)
    return obj


def _shift(value: str, delta: timedelta) -> str:
    match = _DATE_TIME.fullmatch(value)
    if match:
        moment = _parse(value)
        shifted = (moment + delta).astimezone(moment.tzinfo)
        text = shifted.isoformat(timespec="milliseconds" if "." in match.group(1) else "seconds")
        return text.replace("+00:00", "Z") if match.group(2) == "Z" else text
    if _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value
        # Whole days: the date moves as the calendar date of asOf moves.
        return (day + timedelta(days=_whole_days(delta))).isoformat()
    return value


def _whole_days(delta: timedelta) -> int:
    return round(delta / timedelta(days=1))


def _parse(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def prefetch_from(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The prefetch a complete EHR would send for Radix's templates, resolved in memory."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)

    def bundle(kind: str) -> dict[str, Any]:
        entries = [{"resource": r} for r in by_type.get(kind, [])]
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            **({"entry": entries} if entries else {}),
        }

    return {
        "patient": next(iter(by_type.get("Patient", [])), None),
        "conditions": bundle("Condition"),
        "observations": bundle("Observation"),
        "procedures": bundle("Procedure"),
        "serviceRequests": bundle("ServiceRequest"),
        "imagingStudies": bundle("ImagingStudy"),
        "diagnosticReports": bundle("DiagnosticReport"),
        "documentReferences": bundle("DocumentReference"),
    }


def note_reading(vignette: Vignette, knowledge: Any) -> Any:
    """What the notes stage reads from the case's notes (Binaries from its own resources), for
    the runners that call the engine without HTTP."""
    from cds_service.notes.reader import NoteReader

    global _READER
    if _READER is None or _READER[0] is not knowledge:
        _READER = (knowledge, NoteReader(knowledge))
    return _READER[1].read_now(vignette.resources, vignette.as_of)


_READER: tuple[Any, Any] | None = None
