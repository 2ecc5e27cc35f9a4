"""The clinical knowledge base: which codes mean which concept, and the knowledgeVersion.

Built once at start-up from ``valuesets/`` (one FHIR ValueSet per concept, input-contract.md)
and optional site-local ConceptMaps; afterwards every lookup is a dict lookup.

The knowledgeVersion is ``RULES_VERSION+<hash>``: the rules release, set on purpose when the
rule code changes (``rules_fingerprint`` checks that it is), and a hash of the data the rules
read, so it names exactly what produced an answer without depending on how the code is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.rules_version import RULES_VERSION
from cds_service.fhir_json import objects
from cds_service.resources import data_dir

#: Release of the curated value sets; every ``valuesets/`` file carries it as ``version``.
VALUE_SETS_VERSION = "2026.11.0"

CONCEPT_URL = "https://radix-cds.org/fhir/ValueSet/"
VERIFICATION_EXTENSION = "https://radix-cds.org/fhir/StructureDefinition/verification-status"

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"

# Both ICD-10 systems are accepted for ICD codes (clinical.md §4: the Argonaut PAMA examples send
# WHO ICD-10); EHRs also send the HL7 OIDs instead of the canonical URIs.
_SYSTEM_ALIASES: Mapping[str, str] = {
    ICD10_WHO: ICD10CM,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.3": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "urn:oid:2.16.840.1.113883.6.1": "http://loinc.org",
    "urn:oid:2.16.840.1.113883.6.12": "http://www.ama-assn.org/go/cpt",
}
# Prefix families are written as `^<literal>.*$`; anything richer would need a regex engine on the
# hot path, so it is refused at load time.
_PREFIX_REGEX = re.compile(r"^\^((?:[A-Za-z0-9]|\\\.)+)\.\*\$?$")
# ConceptMap equivalences that make the local code a member of the target concept (R4: read
# from target to source, so `wider` = the concept is broader than the local code).
_MAPPED = frozenset({"equivalent", "equal", "wider", "subsumes"})
_NOT_MAPPED = frozenset({"unmatched", "disjoint"})


#: Most (system, code) answers ``Knowledge.concepts`` keeps, and the longest system and code
#: (together) it keeps one for: under 10 MB however hostile the codes a caller sends.
_MOST_ANSWERS = 16_384
_LONGEST_KEPT = 256


class KnowledgeError(ValueError):
    """A value set or site-local ConceptMap cannot be used; the message names the file."""


@dataclass(frozen=True)
class CodeEntry:
    """One member of a concept: an exact code, or (``prefix=True``) an ICD-10 code family."""

    concept: str
    system: str
    code: str
    display: str | None = None
    prefix: bool = False
    unverified: bool = False
    local: bool = False  # from a site-local ConceptMap


@dataclass(frozen=True)
class Knowledge:
    """Immutable code index; equal versions mean equal content, so eq/hash use the version."""

    version: str
    unverified: frozenset[tuple[str, str]] = frozenset()
    _exact: Mapping[tuple[str, str], frozenset[str]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _prefixes: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)
    _titles: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    _entries: Mapping[str, tuple[CodeEntry, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )
    #: Answers of ``concepts`` by (system, code) as sent: the same few hundred codes come in
    #: every record. Bounded, as the codes are the caller's: emptied when full.
    _answers: dict[tuple[str, str], frozenset[str]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def concepts(self, system: str | None, code: str | None) -> frozenset[str]:
        """Concept ids of one (system, code); unknown or malformed → empty."""
        if not isinstance(system, str) or not isinstance(code, str):
            return frozenset()
        if len(system) + len(code) > _LONGEST_KEPT:
            return self._look_up(system, code)  # no code is this long: not worth keeping
        key = (system, code)
        found = self._answers.get(key)
        if found is None:
            if len(self._answers) >= _MOST_ANSWERS:
                self._answers.clear()
            found = self._answers[key] = self._look_up(system, code)
        return found

    def _look_up(self, system: str, code: str) -> frozenset[str]:
        system = _canonical_system(system)
        if system != ICD10CM:
            return self._exact.get((system, code.strip()), frozenset())
        key = _icd_key(code)
        found = self._exact.get((ICD10CM, key), frozenset())
        for end in range(1, len(key) + 1):
            family = self._prefixes.get(key[:end])
            if family:
                found = found | family
        return found

    def concepts_of(self, concept: Mapping[str, Any] | None) -> frozenset[str]:
        """Union over a CodeableConcept's codings; text-only / unknown / malformed → empty."""
        if type(concept) is not dict and not isinstance(concept, Mapping):
            return frozenset()
        codings = concept.get("coding")
        if not isinstance(codings, list):
            return frozenset()
        found: frozenset[str] = frozenset()
        for coding in codings:
            # Exact dict first: the Mapping ABC check is the slowest step of a lookup.
            if type(coding) is dict or isinstance(coding, Mapping):
                found = found | self.concepts(coding.get("system"), coding.get("code"))
        return found

    def title(self, concept_id: str) -> str:
        """Human-readable name of a concept (ValueSet.title), for card text."""
        return self._titles[concept_id]

    @property
    def concept_ids(self) -> tuple[str, ...]:
        """Every concept id, sorted."""
        return tuple(sorted(self._titles))

    def entries(self, concept_id: str) -> tuple[CodeEntry, ...]:
        """The codes and code families that belong to a concept, in value-set order."""
        return self._entries.get(concept_id, ())


def load_knowledge(
    local_codes_dir: Path | None = None,
    config: ClinicalConfig = ClinicalConfig(),  # noqa: B008 - frozen, so a shared default is safe
    *,
    valuesets_dir: Path | None = None,
) -> Knowledge:
    """Read ``valuesets/`` (and site-local ConceptMaps) into a :class:`Knowledge`; call once."""
    valuesets_dir = valuesets_dir if valuesets_dir is not None else data_dir("valuesets")
    value_sets = _read_dir(valuesets_dir)
    local_maps = _read_dir(Path(local_codes_dir)) if local_codes_dir is not None else {}

    titles: dict[str, str] = {}
    entries: list[CodeEntry] = []
    for name, resource in value_sets.items():
        if resource.get("resourceType") == "ValueSet":
            concept_id, title, members = _parse_value_set(name, resource)
            if concept_id in titles:
                raise KnowledgeError(f"{name}: concept id {concept_id!r} defined twice")
            titles[concept_id] = title
            entries.extend(members)
    for name, resource in local_maps.items():
        entries.extend(_parse_concept_map(name, resource, titles.keys()))

    # The note-reading rules (valuesets/notes/) decide answers too: they are part of the version.
    notes_dir = valuesets_dir / "notes"
    notes = _read_dir(notes_dir) if notes_dir.is_dir() else {}
    version = _version(value_sets, local_maps, notes, config)
    return _index(version, titles, entries)


def _index(version: str, titles: Mapping[str, str], entries: Iterable[CodeEntry]) -> Knowledge:
    exact: dict[tuple[str, str], set[str]] = {}
    prefixes: dict[str, set[str]] = {}
    by_concept: dict[str, list[CodeEntry]] = {}
    unverified: set[tuple[str, str]] = set()
    for entry in entries:
        by_concept.setdefault(entry.concept, []).append(entry)
        system = _canonical_system(entry.system)
        if entry.prefix:
            prefixes.setdefault(_icd_key(entry.code), set()).add(entry.concept)
        else:
            key = _icd_key(entry.code) if system == ICD10CM else entry.code.strip()
            exact.setdefault((system, key), set()).add(entry.concept)
        if entry.unverified:
            unverified.add((entry.system, entry.code))
    return Knowledge(
        version=version,
        unverified=frozenset(unverified),
        _exact=MappingProxyType({k: frozenset(v) for k, v in exact.items()}),
        _prefixes=MappingProxyType({k: frozenset(v) for k, v in prefixes.items()}),
        _titles=MappingProxyType(dict(titles)),
        _entries=MappingProxyType({k: tuple(v) for k, v in by_concept.items()}),
    )


def _canonical_system(system: str) -> str:
    system = system.strip()
    return _SYSTEM_ALIASES.get(system, system)


def _icd_key(code: str) -> str:
    # ICD-10 places its dot after the third character, so dropping it is unambiguous.
    return code.strip().upper().replace(".", "")


def _read_dir(folder: Path) -> dict[str, dict[str, Any]]:
    if not folder.is_dir():
        raise KnowledgeError(f"{folder}: not a directory")
    resources: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            resource = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KnowledgeError(f"{path}: not readable JSON ({exc})") from exc
        if not isinstance(resource, dict):
            raise KnowledgeError(f"{path}: not a FHIR resource (a JSON object is expected)")
        resources[path.name] = resource
    return resources


def _parse_value_set(name: str, resource: Mapping[str, Any]) -> tuple[str, str, list[CodeEntry]]:
    concept_id = resource.get("id")
    url = resource.get("url")
    if not isinstance(concept_id, str) or url != CONCEPT_URL + concept_id:
        raise KnowledgeError(f"{name}: ValueSet url must be {CONCEPT_URL}<id>")
    title = resource.get("title")
    if not isinstance(title, str) or not title:
        raise KnowledgeError(f"{name}: ValueSet has no title")
    members: list[CodeEntry] = []
    for include in objects(resource.get("compose"), "include"):
        system = include.get("system")
        if not isinstance(system, str):
            raise KnowledgeError(f"{name}: compose.include without a system")
        for item in objects(include, "concept"):
            code = item.get("code")
            if not isinstance(code, str) or not code.strip():
                raise KnowledgeError(f"{name}: concept without a code in {system}")
            members.append(
                CodeEntry(
                    concept_id, system, code, item.get("display"), unverified=_is_unverified(item)
                )
            )
        for flt in objects(include, "filter"):
            members.append(
                CodeEntry(concept_id, system, _prefix_of(name, system, flt), prefix=True)
            )
    if not members:
        raise KnowledgeError(f"{name}: ValueSet {concept_id!r} lists no codes")
    return concept_id, title, members


def _prefix_of(name: str, system: str, flt: Mapping[str, Any]) -> str:
    match = _PREFIX_REGEX.match(str(flt.get("value", "")))
    if (
        _canonical_system(system) != ICD10CM
        or flt.get("property") != "code"
        or flt.get("op") != "regex"
        or match is None
    ):
        raise KnowledgeError(
            f"{name}: only ICD-10 code prefix filters (property code, op regex, value "
            f"'^<prefix>.*$') are supported, got {dict(flt)!r} in {system}"
        )
    return match.group(1).replace("\\.", ".")


def _is_unverified(item: Mapping[str, Any]) -> bool:
    return any(
        isinstance(ext, Mapping)
        and ext.get("url") == VERIFICATION_EXTENSION
        and ext.get("valueCode") == "unverified"
        for ext in objects(item, "extension")
    )


def _parse_concept_map(
    name: str, resource: Mapping[str, Any], known: Iterable[str]
) -> Iterator[CodeEntry]:
    """Site-local codes: see ``valuesets/examples/README.md`` for the shape accepted."""
    # Validated with the FHIR model first, so a structural error is reported by its FHIR path.
    from fhir.resources.R4B.conceptmap import ConceptMap
    from pydantic import ValidationError

    if resource.get("resourceType") != "ConceptMap":
        raise KnowledgeError(f"{name}: resourceType must be ConceptMap")
    try:
        ConceptMap.model_validate(resource)
    except ValidationError as exc:
        raise KnowledgeError(f"{name}: invalid FHIR ConceptMap: {exc}") from exc
    known = frozenset(known)
    groups = objects(resource, "group")
    if not groups:
        raise KnowledgeError(f"{name}: ConceptMap has no group")
    for g, group in enumerate(groups):
        source = group.get("source")
        if not isinstance(source, str):
            raise KnowledgeError(f"{name}: group[{g}] has no source (the local code system)")
        target_system = group.get("target")
        if target_system not in (None, CONCEPT_URL.rstrip("/")):
            raise KnowledgeError(
                f"{name}: group[{g}].target must be {CONCEPT_URL.rstrip('/')} or absent"
            )
        for e, element in enumerate(objects(group, "element")):
            code = element.get("code")
            where = f"{name}: group[{g}].element[{e}] ({code!r})"
            if not isinstance(code, str):
                raise KnowledgeError(f"{where}: element has no code")
            targets = objects(element, "target")
            if not targets:
                raise KnowledgeError(f"{where}: no target concept")
            for target in targets:
                equivalence = target.get("equivalence")
                if equivalence in _NOT_MAPPED:
                    continue
                if equivalence not in _MAPPED:
                    raise KnowledgeError(
                        f"{where}: equivalence {equivalence!r} is not accepted; use one of "
                        f"{sorted(_MAPPED | _NOT_MAPPED)}"
                    )
                concept = str(target.get("code", "")).removeprefix(CONCEPT_URL)
                if concept not in known:
                    raise KnowledgeError(f"{where}: unknown target concept {concept!r}")
                yield CodeEntry(concept, source, code, element.get("display"), local=True)


def _version(
    value_sets: Mapping[str, Any],
    local_maps: Mapping[str, Any],
    notes: Mapping[str, Any],
    config: ClinicalConfig,
) -> str:
    """``RULES_VERSION+hash`` over the data that decides an answer, as parsed (not as written).

    Value sets, site-local ConceptMaps, the note-reading rules and the thresholds; the rule
    code is named by ``RULES_VERSION`` instead, so reformatting a file changes nothing here.
    """
    material = {
        "valuesets": value_sets,
        "local": local_maps,
        "notes": notes,
        "config": dataclasses.asdict(config),
    }
    canonical = json.dumps(
        material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return f"{RULES_VERSION}+{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"
