"""Clinician-readable names for what the engine reports by id (flags, screening items, ...)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from cds_service.clinical import Assessment, ClinicalConfig, Localisation, RedFlag, Tier
from cds_service.fhir_json import humanise

_FLAGS = {
    "cauda-equina": "Suspected cauda equina syndrome",
    "severe-motor-deficit": "Severe motor deficit",
    "progressive-motor-deficit": "Progressive motor deficit",
    "multilevel-motor-deficit": "Motor deficit at several root levels",
    "cord-compression": "Suspected spinal cord compression",
    "malignancy": "Malignancy, current or past",
    "infection": "Spinal infection risk",
    "fracture": "Vertebral fracture risk",
    "upper-motor-neuron": "Upper motor neuron signs",
}

_CES_ITEMS = {
    "urinary-retention": "urinary retention or difficulty voiding",
    "urinary-incontinence": "urinary incontinence",
    "faecal-incontinence": "faecal incontinence",
    "saddle-anaesthesia": "saddle (perineal) numbness",
    "sensation-saddle": "saddle sensation on examination",
    "sexual-dysfunction": "new sexual dysfunction",
    "anal-tone": "reduced anal tone",
    "post-void-residual": "post-void residual volume",
    "bilateral-symptoms": "symptoms in both legs",
}

_DIFFERENTIALS = {
    "peripheral-arterial-disease": "peripheral arterial disease (vascular claudication)",
    "polyneuropathy": "peripheral polyneuropathy",
    "meralgia-paraesthetica": "meralgia paraesthetica",
    "deep-vein-thrombosis": "deep vein thrombosis",
    "dvt": "deep vein thrombosis",
    "multiple-sclerosis": "multiple sclerosis",
    "stroke": "stroke",
    "ms-stroke": "multiple sclerosis or stroke",
}

_DATA = {
    "patient": "patient demographics",
    "conditions": "conditions",
    "observations": "observations (examination, vital signs)",
    "procedures": "procedures",
    "serviceRequests": "orders and referrals",
    "imagingStudies": "imaging studies",
    "diagnosticReports": "diagnostic reports",
    "documentReferences": "clinical notes",
}


def flag(flag_id: str) -> str:
    return _FLAGS.get(flag_id) or sentence(humanise(flag_id))


def ces_item(item_id: str) -> str:
    return _CES_ITEMS.get(item_id) or humanise(item_id)


def differential(differential_id: str) -> str:
    return _DIFFERENTIALS.get(differential_id) or humanise(differential_id)


def data_key(key: str) -> str:
    return _DATA.get(key) or humanise(key)


def weak_flag(flag_id: str) -> str:
    """``age-over-50`` → ``age over 50`` (the engine puts the configured age in the id)."""
    age = re.fullmatch(r"age-over-(\d+)", flag_id)
    if age:
        return f"age over {age[1]}"
    if flag_id == "weight-loss":
        return "unexplained weight loss"
    return humanise(flag_id)


def flags_of(assessment: Assessment, tier: Tier) -> tuple[RedFlag, ...]:
    return tuple(f for f in assessment.red_flags if f.tier == tier)


def joined(names: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: names de-duplicated, order kept."""
    items = list(dict.fromkeys(n for n in names if n))
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def sentence(text: str) -> str:
    """``text`` with its first letter capitalised and the rest untouched (``MRI`` stays)."""
    return text[:1].upper() + text[1:]


def flag_finding(flags: Iterable[RedFlag]) -> str:
    """The red flags as a summary's finding: first one capitalised, the rest lower case."""
    names = [flag(f.id) for f in flags]
    names = [names[0], *(n[0].lower() + n[1:] for n in names[1:])] if names else names
    return joined(names)


def root(localisation: Localisation) -> str:
    """``left L5``, ``bilateral S1``."""
    return f"{localisation.side} {localisation.root}"


def disc_level(localisation: Localisation) -> str | None:
    """The first disc level without its qualifier: ``L4-L5 paracentral`` → ``L4-L5``."""
    return localisation.disc_levels[0].split()[0] if localisation.disc_levels else None


def likelihood(localisation: Localisation, config: ClinicalConfig) -> str:
    """``probable`` or ``possible``: the localisation's confidence in the word a clinician uses."""
    return "probable" if localisation.confidence >= config.probable_confidence else "possible"


def syndrome(assessment: Assessment, config: ClinicalConfig) -> str:
    """``Probable left L5 radiculopathy (L4-L5)``, or the broadest phrase the data supports."""
    loc = assessment.localisation
    if loc is not None:
        level = disc_level(loc)
        text = f"{sentence(likelihood(loc, config))} {root(loc)} radiculopathy"
        return f"{text} ({level})" if level else text
    if assessment.radicular:
        return "Lumbar radicular syndrome"
    if assessment.back_pain:
        return "Low back pain"
    return "Lumbar spine"


def weeks(value: float) -> str:
    whole = round(value)
    if whole < 1:
        return "under 1 week"
    return "1 week" if whole == 1 else f"{whole} weeks"


def number(value: float) -> str:
    """``6`` for 6.0, ``6.5`` otherwise: thresholds as people write them."""
    return f"{value:g}"
