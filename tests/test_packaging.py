"""The wheel carries what the installed service needs beyond Python: the preview page's files
and the examples (beside hooks/ and valuesets/), and finds them without a checkout."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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
