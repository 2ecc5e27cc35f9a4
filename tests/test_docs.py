"""The documentation stays true to the repository and to the code it describes.

Links must resolve inside the repository (a clone has nothing beside it), and the clinical
documents are read against the code: red-flag tiers, dispositions and the card each gives (from
the real engine and cards over the rules catalogue), rule ids, thresholds and their settings,
localisation weights, the examination code system and the assessment fields.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, get_args

import pytest

from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import DISPOSITION_ORDER, Rating
from cds_service.clinical.exam import MUSCLE_ROOTS
from cds_service.clinical.knowledge import load_knowledge
from cds_service.clinical.localisation import DISC_LEVELS, ROOTS, WEIGHTS
from cds_service.clinical.red_flag import TIERS
from cds_service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCUMENTS = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
RULES = DOCS / "clinical-rules.md"
INPUT = DOCS / "input-contract.md"
ASSESSMENT = DOCS / "assessment-contract.md"

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
_EXTERNAL = re.compile(r"^(?:https?|mailto):", re.IGNORECASE)
#: Absolute paths of a developer's machine, which no clone has.
_MACHINE_PATH = re.compile(r"(?<![\w.])(?:/work/|/home/|/Users/|/tmp/|[A-Za-z]:\\)")
_RULE_PREFIXES = (*TIERS, "radicular", "localisation", "disposition", "order-rating")
_RULE_ID = re.compile(r"`((?:" + "|".join(map(re.escape, _RULE_PREFIXES)) + r")/[a-z0-9-]+)`")
_VALUE_TYPES = {
    "integer": "valueInteger",
    "coding": "valueCodeableConcept",
    "boolean": "valueBoolean",
    "quantity": "valueQuantity",
}


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _without_code(text: str) -> str:
    """Markdown with fenced blocks and code spans blanked: links inside code are not links."""
    return _CODE_SPAN.sub("``", _FENCE.sub("", text))


def _links(text: str) -> list[str]:
    prose = _without_code(text)
    return _LINK.findall(prose) + _REFERENCE_LINK.findall(prose)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def _anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for _, title in _HEADING.findall(_FENCE.sub("", _read(path))):
        slug = _slug(title)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(anchors)


def _section(text: str, title: str) -> str:
    """The body of the heading ``title``, up to the next heading of the same or a higher level."""
    for match in _HEADING.finditer(text):
        if match.group(2) == title:
            level = len(match.group(1))
            rest = text[match.end() :]
            end = re.search(rf"^#{{1,{level}}}\s", rest, re.MULTILINE)
            return rest[: end.start()] if end else rest
    raise AssertionError(f"no heading {title!r}")


def _rows(text: str) -> Iterator[list[str]]:
    """The cells of every table row in ``text`` (header and rule rows included)."""
    for line in text.splitlines():
        if line.startswith("|") and line.rstrip().endswith("|"):
            yield [cell.strip() for cell in line.strip()[1:-1].split("|")]


def _row(text: str, first: str, column: int = 0) -> list[str]:
    rows = [cells for cells in _rows(text) if len(cells) > column and cells[column] == first]
    assert len(rows) == 1, f"expected one table row for {first}, found {len(rows)}"
    return rows[0]


# --- Links ----------------------------------------------------------------------------------


def test_the_link_pattern_finds_links_and_skips_code() -> None:
    text = '[a](docs/x.md) [b](y.md "t") `[c](no.md)`\n```\n[d](nor.md)\n```\n[e]: ref.md\n'
    assert _links(text) == ["docs/x.md", "y.md", "ref.md"]
    assert _slug("1.2 Localisation: root, side and disc level") == (
        "12-localisation-root-side-and-disc-level"
    )
    assert _slug("Outbound safety (`fhirServer`)") == "outbound-safety-fhirserver"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    broken = []
    for target in _links(_read(document)):
        if _EXTERNAL.match(target):
            continue
        path, _, fragment = target.partition("#")
        if path.startswith("/") or "../shared" in path:
            broken.append(f"{target}: not a path inside the repository")
            continue
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.is_relative_to(ROOT) or ".venv" in resolved.parts:
            broken.append(f"{target}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in _anchors(resolved):
            broken.append(f"{target}: no heading #{fragment}")
    assert broken == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_machine_paths(document: Path) -> None:
    assert _MACHINE_PATH.findall(_read(document)) == []


@pytest.mark.parametrize("document", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_the_docs_never_point_at_the_developers_folder(document: Path) -> None:
    assert "../shared" not in _read(document)
    assert "shared/clinical" not in _read(document)


def test_the_docs_index_links_every_document() -> None:
    index = _links(_read(DOCS / "README.md"))
    for document in DOCS.glob("*.md"):
        if document.name != "README.md":
            assert document.name in index, f"docs/README.md does not link {document.name}"


# --- Clinical rules against the code ----------------------------------------------------------


@cache
def _catalogue() -> list[tuple[Any, Any, dict[str, Any]]]:
    """Every rule-catalogue case through the real engine and cards: (case, evaluation, body)."""
    from tests.clinical.test_rules_catalogue import CASES, _answer

    knowledge = load_knowledge()
    return [(case, *_answer(case, knowledge)) for case in CASES]


def test_every_red_flag_is_documented_with_its_tier() -> None:
    table = _section(_read(RULES), "2. Red flags and tiers")
    for flag, tier in TIERS.items():
        assert _row(table, f"`{flag}`")[1] == tier, flag
    documented = {cells[0] for cells in _rows(table) if cells[0].startswith("`")}
    assert documented == {f"`{flag}`" for flag in TIERS}


def test_every_disposition_is_documented_with_the_card_it_gives() -> None:
    text = _read(RULES)
    decisions = _section(text, "3. Disposition")
    cards = _section(text, "The card each disposition gives")
    shown: dict[str, set[str]] = {}
    for case, evaluation, body in _catalogue():
        if case.hook == "patient-view":
            indicator = body["cards"][0]["indicator"] if body["cards"] else "no card"
            shown.setdefault(evaluation.assessment.disposition, set()).add(indicator)
    for disposition in DISPOSITION_ORDER:
        assert any(cells[1] == f"`{disposition}`" for cells in _rows(decisions)), disposition
        assert len(shown.get(disposition, ())) == 1, f"the catalogue shows {disposition} as {shown}"
        assert _row(cards, f"`{disposition}`")[1] == shown[disposition].pop(), disposition


def test_every_rating_is_documented() -> None:
    table = _section(_read(RULES), "4. Imaging orders on order-select and order-sign")
    documented = {cells[1] for cells in _rows(table) if cells[0].isdigit()}
    assert documented == {f"`{rating}`" for rating in get_args(Rating)}


def test_the_rule_ids_documented_are_the_rules_that_fire() -> None:
    fired = set()
    for _, evaluation, _ in _catalogue():
        fired |= set(evaluation.assessment.rules)
        fired |= {rating.rule for rating in evaluation.order_ratings}
    documented = set(_RULE_ID.findall(_read(RULES)))
    assert fired - documented == set(), "rules that fire but are not documented"
    assert documented - fired == set(), "documented rule ids that never fire"


def test_every_threshold_is_named_by_its_setting_with_its_default() -> None:
    table = _section(_read(RULES), "Thresholds are configuration")
    settings = Settings.model_fields
    for field in dataclasses.fields(ClinicalConfig):
        assert field.name in settings, f"{field.name} cannot be configured"
        variable = f"RADIX_{field.name.upper()}"
        default = _row(table, f"`{variable}`")[1].strip("`")
        if isinstance(field.default, str):
            assert default == field.default, variable
        else:
            assert float(default) == field.default, variable


def test_the_localisation_tables_are_the_code_s() -> None:
    text = _read(RULES)
    weights = _section(text, "1.2 Localisation: root, side and disc level")
    for concept, by_root in WEIGHTS.items():
        cells = _row(weights, f"`{concept}`")[1:]
        documented = {root: float(cell) for root, cell in zip(ROOTS, cells, strict=True) if cell}
        assert documented == by_root, concept
    documented = {cells[0] for cells in _rows(weights) if cells[0].startswith("`")}
    assert documented == {f"`{concept}`" for concept in WEIGHTS}
    for root, levels in DISC_LEVELS.items():
        cells = _row(weights, root)
        documented = [f"{cells[1]} paracentral"] + (
            [f"{cells[2]} far lateral"] if cells[2] != "—" else []
        )
        assert tuple(documented) == levels, root
    muscles = _section(text, "1.5 Key muscles and motor deficit")
    for muscle, roots in MUSCLE_ROOTS.items():
        name = muscle.removeprefix("strength-").replace("-", " ")
        assert tuple(_row(muscles, name)[1].split(", ")) == roots, muscle


# --- Input contract against the code system ----------------------------------------------------


def test_every_neuro_exam_code_is_documented_with_its_value_and_roots() -> None:
    system = json.loads(_read(ROOT / "valuesets" / "CodeSystem-neuro-exam.json"))
    text = _read(INPUT)
    exam = _section(text, "3. Neurological examination")
    for concept in system["concept"]:
        code = concept["code"]
        assert f"`{code}`" in text or f"`radix#{code}`" in text, code
        properties: dict[str, list[Any]] = {}
        for prop in concept.get("property", ()):
            value = next(v for k, v in prop.items() if k.startswith("value"))
            properties.setdefault(prop["code"], []).append(value)
        if properties.get("kind") != ["exam"]:
            continue
        row = _row(exam, f"`{code}`")
        assert row[1] == f"`{_VALUE_TYPES[properties['value-type'][0]]}`", code
        for root in properties.get("root", ()):
            assert root in row[3], (code, root)
        for root in properties.get("minor-root", ()):
            assert f"({root})" in row[3], (code, root)
        if properties.get("upper-motor-neuron") == [True]:
            assert "upper motor neuron" in row[3], code


# --- Assessment contract against what the engine emits ---------------------------------------


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def test_every_assessment_field_the_engine_emits_is_documented() -> None:
    text = _read(ASSESSMENT)
    table = _section(text, "The assessment extension")
    top_level = {cells[0].strip("`").removesuffix("[]") for cells in _rows(table)}
    nested = set()
    for _, evaluation, _ in _catalogue():
        extension = evaluation.assessment.to_extension()
        assert set(extension) <= top_level, set(extension) - top_level
        nested |= set(_keys(list(extension.values())))
    assert nested, "the catalogue produced no nested fields"
    for key in nested:
        assert f"`{key}`" in text or f"`{key}[]`" in text, key
