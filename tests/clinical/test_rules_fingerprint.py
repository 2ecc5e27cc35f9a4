"""The rule-code fingerprint: blind to how the code is written, not to what it does.

Every test works on a copy of the rule packages in tmp_path, so it neither depends on the record
being current (tests/test_rules_version.py checks that) nor writes the real one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cds_service.clinical import rules_fingerprint
from cds_service.clinical.rules_fingerprint import (
    COMMAND,
    PACKAGE,
    RECORD,
    RULE_MODULES,
    RULE_PACKAGES,
    fingerprint,
    main,
    next_version,
    normalised,
    record,
    recorded,
    rule_files,
    stale,
)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the rule packages, recorded as current under release 2026.12.1."""
    copy = tmp_path / "cds_service"
    for name in RULE_PACKAGES:
        shutil.copytree(PACKAGE / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in RULE_MODULES:
        shutil.copy(PACKAGE / name, copy / name)
    (copy / RECORD).write_text(
        f'RULES_VERSION = "2026.12.1"\nRULES_FINGERPRINT = "{fingerprint(copy)}"\n',
        encoding="utf-8",
    )
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {path.name} once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_copy_has_the_fingerprint_of_the_tree(package: Path) -> None:
    assert fingerprint(package) == fingerprint(PACKAGE)
    assert stale(package) is None


def test_every_rule_module_counts_and_nothing_else() -> None:
    files = {p.relative_to(PACKAGE).as_posix() for p in rule_files()}
    assert {"clinical/red_flag.py", "clinical/knowledge.py", "cards/phrase.py"} <= files
    assert {"notes/reader.py", "notes/rules.py", "clinical/config.py", "fhir_json.py"} <= files
    assert not files & {"clinical/rules_version.py", "clinical/code_table.py"}
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)


def test_reformatting_the_rule_code_changes_nothing(package: Path) -> None:
    before = {p: p.read_bytes() for p in rule_files(package)}
    # A narrow line length re-wraps most statements, whatever ruff format did to them already.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--isolated",
            "--line-length",
            "60",
            "-q",
            str(package),
        ],
        check=True,
    )
    changed = [p for p in before if p.read_bytes() != before[p]]
    assert len(changed) > 20
    assert stale(package) is None


def test_comments_and_docstrings_change_nothing(package: Path) -> None:
    config = package / "clinical" / "config.py"
    _edit(config, "    fever_celsius: float", "    # a comment\n    fever_celsius: float")
    _edit(config, "default=38.0,", "default=38.0,  # and another\n       ")
    _edit(config, "Every threshold the rules use", "The thresholds")
    summary = package / "cards" / "summary.py"
    summary.write_text(
        '"""Reworded."""\n' + summary.read_text(encoding="utf-8").split('"""', 2)[2],
        encoding="utf-8",
    )
    assert stale(package) is None


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("clinical/config.py", "default=38.0", "default=37.5"),
        ("clinical/red_flag.py", '"cauda-equina": "emergency"', '"cauda-equina": "urgent"'),
        ("cards/summary.py", "LIMIT = 140", "LIMIT = 120"),
        ("notes/rules.py", '    "l",\n    "r",\n', '    "l",\n'),
        ("fhir_json.py", "isinstance(ident, str) and ident", "isinstance(ident, str)"),
    ],
)
def test_a_rule_edit_changes_the_fingerprint(
    package: Path, module: str, old: str, new: str
) -> None:
    _edit(package / module, old, new)
    problem = stale(package)
    assert problem is not None
    assert f"{COMMAND} 2026.12.2" in problem and "2026.12.1" in problem


@pytest.mark.parametrize("name", ["cards/new_rule.py", "cards/emergency.txt"])
def test_a_new_rule_file_changes_the_fingerprint(package: Path, name: str) -> None:
    (package / name).write_text("X = 1\n", encoding="utf-8")
    assert stale(package) is not None


def test_what_decides_no_answer_does_not_count(package: Path) -> None:
    _edit(package / "clinical" / "code_table.py", '"LOINC"', '"Loinc"')
    (package / "clinical" / "__pycache__").mkdir()
    (package / "clinical" / "__pycache__" / "config.cpython-311.pyc").write_bytes(b"\0")
    assert stale(package) is None


def test_recording_a_new_release_makes_the_record_current(package: Path) -> None:
    _edit(package / "clinical" / "config.py", "default=200.0", "default=150.0")
    value = record("2026.12.2", package)
    assert recorded(package) == ("2026.12.2", value)
    assert stale(package) is None
    # The record it writes is a module ruff leaves alone and the knowledge base imports.
    source = (package / RECORD).read_text(encoding="utf-8")
    assert all(len(line) <= 100 for line in source.splitlines())
    namespace: dict = {}
    exec(compile(source, RECORD, "exec"), namespace)
    assert (namespace["RULES_VERSION"], namespace["RULES_FINGERPRINT"]) == ("2026.12.2", value)


@pytest.mark.parametrize("version", ["2026.12.1", "2026.11.9", "2025.12.9", "2026.12", "v2"])
def test_a_release_must_come_after_the_recorded_one(package: Path, version: str) -> None:
    before = (package / RECORD).read_bytes()
    with pytest.raises(ValueError):
        record(version, package)
    assert (package / RECORD).read_bytes() == before


def test_next_version() -> None:
    assert next_version("2026.12.1") == "2026.12.2"
    assert next_version("2026.09.19") == "2026.09.20"


def test_the_command(package: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([], package) == 0
    assert "2026.12.1: the fingerprint is current" in capsys.readouterr().out
    _edit(package / "clinical" / "config.py", "default=70,", "default=65,")
    assert main([], package) == 1
    assert f"{COMMAND} 2026.12.2" in capsys.readouterr().out
    assert main(["2026.12.1"], package) == 1
    assert "does not come after" in capsys.readouterr().err
    assert main(["2026.12.2"], package) == 0
    assert "2026.12.2 recorded" in capsys.readouterr().out
    assert main([], package) == 0


def test_normalised_drops_docstrings_but_keeps_strings_that_are_values() -> None:
    plain = normalised("def f(x):\n    return x > 3\n")
    assert normalised('def f(x):\n    """Doc."""\n    # note\n    return (x >\n 3)\n') == plain
    assert normalised("def f(x):\n    return x >= 3\n") != plain
    assert normalised('X = "a"\n') != normalised('X = "b"\n')
    assert normalised('X = 1\n"""What X is."""\n') == normalised("X = 1\n")


def test_the_module_documents_the_command() -> None:
    assert f"{COMMAND} 2026.12.2" in (rules_fingerprint.__doc__ or "")
