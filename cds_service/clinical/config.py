"""Clinical thresholds: configuration with documented defaults (decision-rules.md).

Each threshold is declared here once. ``cds_service.settings`` makes every field a setting of
the same name (``RADIX_PERSISTENT_WEEKS`` for ``persistent_weeks``), with its default and the
bounds in its metadata (``gt``, ``ge``, ``le``, read as pydantic ``Field`` arguments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PracticeMode = Literal["us", "uk"]


@dataclass(frozen=True)
class ClinicalConfig:
    """Every threshold the rules use; defaults are those of ``decision-rules.md``."""

    #: Weeks of radicular symptoms (with conservative care) before MRI is indicated (ACR V3).
    persistent_weeks: float = field(default=6.0, metadata={"gt": 0})
    #: MRC grade at or below which a key muscle is a severe motor deficit.
    severe_mrc_max: int = field(default=3, metadata={"ge": 0, "le": 5})
    #: MRC grade at or below which a key muscle counts as a motor deficit.
    deficit_mrc_max: int = field(default=4, metadata={"ge": 0, "le": 5})
    #: Age in years at or above which fracture risk is a red flag (ACR V6).
    fracture_age: int = field(default=70, metadata={"gt": 0})
    #: Age above which "age alone" is mentioned as a weak malignancy flag (ACP 2011).
    weak_flag_age: int = field(default=50, metadata={"gt": 0})
    #: Months within which a prior lumbar MRI counts as recent (duplicate imaging).
    prior_mri_months: int = field(default=12, metadata={"gt": 0})
    #: Days within which cauda-equina symptoms count as recent.
    ces_recency_days: int = field(default=30, metadata={"gt": 0})
    #: Body temperature (degrees Celsius) at or above which fever is present.
    fever_celsius: float = field(default=38.0, metadata={"gt": 30})
    #: Days within which a body temperature observation counts.
    fever_window_days: int = field(default=7, metadata={"gt": 0})
    #: Post-void residual (mL) at or above which urinary retention is supported.
    pvr_ml: float = field(default=200.0, metadata={"gt": 0})
    #: Hours from request to emergency MRI for suspected cauda equina (GIRFT 2023 pathway).
    ces_mri_hours: int = field(default=4, metadata={"gt": 0})
    #: Localisation confidence at or above which the card calls the root "probable" rather
    #: than "possible": a display threshold, it changes no disposition.
    probable_confidence: float = field(default=0.5, metadata={"gt": 0, "le": 1})
    #: "us" (ACR/ACP: MRI after 6 weeks) or "uk" (NICE NG59: spinal / MSK interface referral).
    practice_mode: PracticeMode = "us"
