"""The README's configuration table names every setting, and only real ones."""

import re
from pathlib import Path

from cds_service.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_in_the_readme():
    documented = set(re.findall(r"^\| `(RADIX_[A-Z0-9_]+)` \|", README, flags=re.MULTILINE))
    settings = {f"RADIX_{name.upper()}" for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from the README table"
    assert documented - settings == set(), "README documents settings that do not exist"


def test_clinical_thresholds_come_from_settings():
    config = Settings(persistent_weeks=8, practice_mode="uk", fracture_age=65).clinical
    assert (config.persistent_weeks, config.practice_mode, config.fracture_age) == (8, "uk", 65)
