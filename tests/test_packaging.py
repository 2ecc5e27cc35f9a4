"""The distribution: its licence declared and shipped in full, and a wheel that carries what the
installed service needs beyond Python (the preview page's files and the examples, beside hooks/
and valuesets/) and finds them without a checkout."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: SHA-256 of the Apache License 2.0 as the ASF publishes it (LICENSE-2.0.txt).
APACHE_2_0 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
PROBE = """
import json, sys
import cds_service
from cds_service.app import preview
from cds_service.resources import data_dir
print(json.dumps({
    "package": cds_service.__file__,
    "examples": str(data_dir("examples")),
    "ids": [e["id"] for e in preview.examples()["examples"]],
    "page": len(preview.page()),
    "svg": 'id="limbs"' in preview.page().decode(),
    "script": len(preview.asset("preview.js")),
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    [built] = out.glob("radix_cds-*.whl")
    return built


def test_the_wheel_holds_the_preview_files_and_the_examples(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in ("index.html", "limbs.svg", "preview.css", "preview.js"):
        assert f"cds_service/app/preview/{asset}" in names
    examples = {p.name for p in (ROOT / "examples").iterdir()}
    assert {
        n.rsplit("/", 1)[1] for n in names if n.startswith("cds_service/_data/examples/")
    } == examples


def test_the_installed_package_serves_them_without_a_checkout(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run from elsewhere, with the unpacked wheel first on the path: no checkout to fall back on.
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout)
    assert found["package"].startswith(str(site))
    assert found["examples"] == str(site / "cds_service" / "_data" / "examples")
    assert len(found["ids"]) == 4 and found["svg"] and found["script"] > 1000


def test_the_license_file_is_the_full_apache_2_0_text():
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_0


def test_pyproject_names_the_license_and_its_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]


def test_the_wheel_declares_and_ships_the_license(wheel: Path):
    archive = zipfile.ZipFile(wheel)
    [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    text = archive.read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text
    assert any(n.endswith("licenses/LICENSE") for n in archive.namelist())
