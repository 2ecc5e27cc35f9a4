"""Differential diagnoses listed as "consider": they change no tier (rules §2, clinical.md §2.3)."""

from __future__ import annotations

from cds_service.clinical.chart import Chart
from cds_service.clinical.exam import Exam, sides_of

CODED: tuple[str, ...] = (
    "peripheral-arterial-disease",
    "polyneuropathy",
    "meralgia-paraesthetica",
    "deep-vein-thrombosis",
    "ms-stroke",
)


def differentials(chart: Chart, exam: Exam) -> tuple[str, ...]:
    """Coded differentials, plus the ones the examination pattern points to."""
    found = {c for c in CODED if chart.asserted(c)}
    # Symmetric reflex or sensory loss is length-dependent neuropathy, not cauda equina.
    for concept in {f.concept for f in (*exam.reflex_deficits(), *exam.sensory_deficits())}:
        sides = {
            s
            for f in (*exam.reflex_deficits(), *exam.sensory_deficits())
            if f.concept == concept
            for s in sides_of(f.side)
        }
        if {"left", "right"} <= sides:
            found.add("polyneuropathy")
    # Upper motor neuron signs: not a root lesion (MS, stroke, myelopathy).
    if exam.umn_signs():
        found.add("ms-stroke")
    return tuple(c for c in CODED if c in found)
