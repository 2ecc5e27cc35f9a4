"""The README's configuration table names every setting, and only real ones."""

import dataclasses
import os
import re
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.clinical import ClinicalConfig
from cds_service.settings import ConfigurationError, Settings, load_settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_in_the_readme():
    documented = set(re.findall(r"^\| `(RADIX_[A-Z0-9_]+)` \|", README, flags=re.MULTILINE))
    settings = {f"RADIX_{name.upper()}" for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from the README table"
    assert documented - settings == set(), "README documents settings that do not exist"


def test_clinical_thresholds_come_from_settings():
    config = Settings(persistent_weeks=8, practice_mode="uk", fracture_age=65).clinical
    assert (config.persistent_weeks, config.practice_mode, config.fracture_age) == (8, "uk", 65)


def test_every_threshold_is_set_by_its_own_variable_and_defaults_to_the_clinical_config(
    monkeypatch,
):
    for name in [n for n in os.environ if n.startswith("RADIX_")]:
        monkeypatch.delenv(name)
    assert load_settings().clinical == ClinicalConfig()
    configured = {
        "RADIX_PERSISTENT_WEEKS": ("8", 8.0),
        "RADIX_SEVERE_MRC_MAX": ("2", 2),
        "RADIX_DEFICIT_MRC_MAX": ("3", 3),
        "RADIX_FRACTURE_AGE": ("65", 65),
        "RADIX_WEAK_FLAG_AGE": ("55", 55),
        "RADIX_PRIOR_MRI_MONTHS": ("6", 6),
        "RADIX_CES_RECENCY_DAYS": ("14", 14),
        "RADIX_FEVER_CELSIUS": ("37.8", 37.8),
        "RADIX_FEVER_WINDOW_DAYS": ("3", 3),
        "RADIX_PVR_ML": ("150", 150.0),
        "RADIX_CES_MRI_HOURS": ("2", 2),
        "RADIX_PROBABLE_CONFIDENCE": ("0.7", 0.7),
        "RADIX_PRACTICE_MODE": ("uk", "uk"),
    }
    for variable, (text, _) in configured.items():
        monkeypatch.setenv(variable, text)
    expected = {variable: value for variable, (_, value) in configured.items()}
    config = dataclasses.asdict(load_settings().clinical)
    assert {f"RADIX_{name.upper()}": value for name, value in config.items()} == expected


def test_a_bad_variable_is_named_as_the_operator_set_it(monkeypatch):
    for name in [n for n in os.environ if n.startswith("RADIX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("RADIX_PORT", "abc")
    monkeypatch.setenv("RADIX_ADMIN_TOKEN", "s3cret")
    monkeypatch.setenv("RADIX_SEVERE_MRC_MAX", "7")
    expected = (
        "RADIX_PORT: Input should be a valid integer, unable to parse string as an integer\n"
        "RADIX_SEVERE_MRC_MAX: Input should be less than or equal to 5"
    )
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert str(raised.value) == expected
    # The app factory (e.g. `uvicorn --factory cds_service.app:create_app`) says the same.
    with pytest.raises(ConfigurationError) as from_factory:
        create_app()
    assert str(from_factory.value) == expected
    assert from_factory.value.__cause__ is None and from_factory.value.__suppress_context__
