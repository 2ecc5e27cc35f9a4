"""Clinical thresholds: configuration with documented defaults (decision-rules.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PracticeMode = Literal["us", "uk"]


@dataclass(frozen=True)
class ClinicalConfig:
    """Every threshold the rules use; defaults are those of ``decision-rules.md``."""

    #: Weeks of radicular symptoms (with conservative care) before MRI is indicated (ACR V3).
    persistent_weeks: float = 6.0
    #: MRC grade at or below which a key muscle is a severe motor deficit.
    severe_mrc_max: int = 3
    #: MRC grade at or below which a key muscle counts as a motor deficit.
    deficit_mrc_max: int = 4
    #: Age in years at or above which fracture risk is a red flag (ACR V6).
    fracture_age: int = 70
    #: Age above which "age alone" is mentioned as a weak malignancy flag (ACP 2011).
    weak_flag_age: int = 50
    #: Months within which a prior lumbar MRI counts as recent (duplicate imaging).
    prior_mri_months: int = 12
    #: Days within which cauda-equina symptoms count as recent.
    ces_recency_days: int = 30
    #: Body temperature (degrees Celsius) at or above which fever is present.
    fever_celsius: float = 38.0
    #: Days within which a body temperature observation counts.
    fever_window_days: int = 7
    #: Post-void residual (mL) at or above which urinary retention is supported.
    pvr_ml: float = 200.0
    #: Hours from request to emergency MRI for suspected cauda equina (GIRFT 2023 pathway).
    ces_mri_hours: int = 4
    #: Localisation confidence at or above which the card calls the root "probable" rather
    #: than "possible": a display threshold, it changes no disposition.
    probable_confidence: float = 0.5
    #: "us" (ACR/ACP: MRI after 6 weeks) or "uk" (NICE NG59: spinal / MSK interface referral).
    practice_mode: PracticeMode = "us"
