"""How a test reads what the notes stage made of a sentence: one short outcome string."""

from __future__ import annotations

from cds_service.clinical.finding import Finding
from cds_service.clinical.knowledge import Knowledge
from cds_service.notes.findings import note_findings
from cds_service.notes.pipeline import NotePipeline
from tests.notes.conftest import NOW

REFERENCE = "DocumentReference/test"


def findings(pipeline: NotePipeline, knowledge: Knowledge, text: str) -> list[Finding]:
    return list(note_findings(pipeline.read(text), REFERENCE, NOW, knowledge))


def outcome(found: list[Finding], concept: str) -> str:
    """``ignored``, ``absent``, ``history``, ``present [side][, N weeks]`` or exam values."""
    mine = [f for f in found if f.concept == concept]
    if not mine:
        return "ignored"
    if any(not f.current for f in mine):
        return "history"
    parts: list[str] = []
    for f in mine:
        side = f" {f.side}" if f.side else ""
        if f.grade is not None:
            text = f"grade {f.grade}{side}"
        elif f.level is not None:
            text = f"{f.level}{side}"
        elif f.present is False:
            text = "absent" if f.resource_type and concept not in _SIGNS else f"negative{side}"
        elif concept in _SIGNS and concept != "foot-drop":
            text = f"positive{side}"
        else:
            text = f"present{side}"
            weeks = round((f.noted - f.when).days / 7) if f.when and f.noted else 0
            if weeks:
                text += f", {weeks} weeks"
        if concept == "foot-drop" and f.present is False:
            text = "absent"
        parts.append(text)
    return ", ".join(dict.fromkeys(parts))


_SIGNS = frozenset(
    {
        "straight-leg-raise",
        "crossed-straight-leg-raise",
        "femoral-nerve-stretch",
        "babinski",
        "clonus",
        "foot-drop",
    }
)
