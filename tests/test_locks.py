"""The lock files (``requirements/*.txt``) stay in step with ``pyproject.toml``'s ranges.

The image installs ``requirements/runtime.txt`` and CI ``requirements/test.txt``, both with
``--require-hashes``: a dependency added to pyproject.toml but not locked would be missing from
the image (pip refuses an unpinned requirement in hash mode, but only at build time), and a pin
outside its range would ship a version the code was never meant to run on.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]+))?"
)
_HASH = re.compile(r"--hash=sha256:(?P<digest>\S+)")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str | None
    hashes: tuple[str, ...]


def read_lock(path: Path) -> dict[str, Pin]:
    """``name == version`` lines with their ``--hash`` continuation lines, by canonical name."""
    pins: dict[str, Pin] = {}
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            pin = Pin(
                str(current["name"]),
                str(current["version"]),
                current["marker"],  # type: ignore[arg-type]
                tuple(current["hashes"]),  # type: ignore[arg-type]
            )
            # A universal lock may pin a package once per Python range (spaCy: <3.8 on 3.11,
            # >=3.8 from 3.12): allowed only under markers, and the one for this interpreter
            # is the pin that counts here.
            if pin.name in pins:
                other = pins[pin.name]
                assert pin.marker and other.marker and pin.marker != other.marker, (
                    f"{path.name}: {pin.name} pinned twice"
                )
                if not Marker(pin.marker).evaluate():
                    return
            pins[pin.name] = pin

    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _PIN.match(stripped)
        if match:
            close()
            marker = match["marker"].strip() if match["marker"] else None
            current = {
                "name": canonicalize_name(match["name"]),
                "version": match["version"],
                "marker": marker,
                "hashes": [],
            }
        elif stripped.startswith("--hash="):
            assert current is not None, f"{path.name}: a hash before any pin: {stripped}"
            found = _HASH.match(stripped)
            assert found, f"{path.name}: not a sha256 hash: {stripped}"
            current["hashes"].append(found["digest"])  # type: ignore[union-attr]
        else:
            pytest.fail(f"{path.name}: a line that is neither a pin nor a hash: {line!r}")
    close()
    return pins


def _runtime() -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]


def _test_extra() -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]]


def _build() -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]


LOCK_CONTENTS = {
    "runtime.txt": _runtime,
    "test.txt": lambda: [*_runtime(), *_test_extra()],
    "build.txt": _build,
}


@pytest.mark.parametrize("lock", sorted(LOCK_CONTENTS))
def test_every_pin_is_exact_and_hashed(lock: str):
    pins = read_lock(LOCKS / lock)
    assert pins, f"{lock} pins nothing"
    for pin in pins.values():
        assert pin.hashes, f"{lock}: {pin.name}=={pin.version} has no --hash"
        for digest in pin.hashes:
            assert re.fullmatch(r"[0-9a-f]{64}", digest), f"{lock}: {pin.name}: {digest}"


@pytest.mark.parametrize("lock", sorted(LOCK_CONTENTS))
def test_every_declared_dependency_is_pinned_within_its_range(lock: str):
    pins = read_lock(LOCKS / lock)
    for requirement in LOCK_CONTENTS[lock]():
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement} (pyproject.toml) is not in {lock}: run lock.sh"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{lock} pins {pin.name}=={pin.version}, outside pyproject.toml's {requirement}"
        )


def test_the_test_lock_tests_exactly_what_ships():
    """CI must test the versions the image runs: every runtime pin is the same in both."""
    runtime, test = read_lock(LOCKS / "runtime.txt"), read_lock(LOCKS / "test.txt")
    differ = {
        name: (pin.version, test[name].version if name in test else None)
        for name, pin in runtime.items()
        if name not in test or test[name].version != pin.version
    }
    assert differ == {}


def test_the_build_input_is_pyprojects_build_requirements():
    listed = [
        Requirement(line.strip())
        for line in (LOCKS / "build.in").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert sorted(map(str, listed)) == sorted(map(str, _build()))


def test_each_lock_says_how_to_regenerate_it():
    for lock in LOCK_CONTENTS:
        assert "requirements/lock.sh" in (LOCKS / lock).read_text().split("\n", 3)[1]


def _closure_gaps(lock: str, roots: list[Requirement]) -> list[str]:
    """Requirements reached from ``roots`` through installed metadata but not pinned in ``lock``.

    Walked only through distributions installed at their pinned version (in CI, all of them:
    CI installs from the lock), with markers evaluated for this interpreter and the extras asked
    for; a package installed at another version is not descended into, so a developer's own
    environment cannot fail this test for what it has, only for what the lock lacks.
    """
    pins = read_lock(LOCKS / lock)
    gaps: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [(r, "pyproject.toml") for r in roots]
    while queue:
        requirement, wanted_by = queue.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        pin = pins.get(name)
        if pin is None:
            gaps.append(f"{requirement} (wanted by {wanted_by})")
            continue
        try:
            installed = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if installed.version != pin.version:
            continue
        for text in installed.requires or ():
            child = Requirement(text)
            if _applies(child, requirement.extras):
                queue.append((child, f"{name}=={pin.version}"))
    return sorted(gaps)


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    environment = default_environment()
    return any(
        requirement.marker.evaluate({**environment, "extra": extra}) for extra in extras or {""}
    )


def test_the_runtime_lock_holds_every_transitive_dependency():
    assert _closure_gaps("runtime.txt", _runtime()) == []


def test_the_test_lock_holds_every_transitive_dependency():
    assert _closure_gaps("test.txt", [*_runtime(), *_test_extra()]) == []
