"""The service catalogue and request schemas of ``hooks/``, loaded and compiled once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from referencing import Registry, Resource

from cds_service.protocol.schema_check import SchemaValidator
from cds_service.resources import data_dir

HOOKS = ("patient-view", "order-select", "order-sign")


@dataclass(frozen=True)
class ServiceDefinition:
    """One entry of the discovery document."""

    id: str
    hook: str
    title: str
    description: str
    usage_requirements: str
    prefetch: dict[str, str]

    def discovery_entry(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "usageRequirements": self.usage_requirements,
            "prefetch": dict(self.prefetch),
        }


@dataclass(frozen=True)
class Catalogue:
    services: dict[str, ServiceDefinition]
    #: Prefetch keys without which no assessment is possible (412 when they cannot be had).
    essential_prefetch: frozenset[str]
    request_validators: dict[str, SchemaValidator]
    feedback_validator: SchemaValidator
    #: Every schema in hooks/, by file name (for the OpenAPI document).
    schemas: dict[str, dict[str, Any]]

    def discovery(self) -> dict[str, Any]:
        return {"services": [s.discovery_entry() for s in self.services.values()]}


def load_catalogue(hooks_dir: Path | None = None) -> Catalogue:
    """Read ``services.json`` and compile every ``*.schema.json`` of the hooks folder."""
    folder = hooks_dir or data_dir("hooks")
    raw = json.loads((folder / "services.json").read_text(encoding="utf-8"))
    services = {
        entry["id"]: ServiceDefinition(
            id=entry["id"],
            hook=entry["hook"],
            title=entry["title"],
            description=entry["description"],
            usage_requirements=entry["usageRequirements"],
            prefetch=dict(entry.get("prefetch", {})),
        )
        for entry in raw["services"]
    }
    unknown = {s.hook for s in services.values()} - set(HOOKS)
    if unknown:
        raise ValueError(f"services.json names hooks this service cannot answer: {sorted(unknown)}")

    schemas = {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.schema.json"))
    }
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )

    def compile_schema(name: str) -> SchemaValidator:
        return SchemaValidator.compile(schemas[name], registry)

    return Catalogue(
        services=services,
        essential_prefetch=frozenset(raw.get("essentialPrefetch", ())),
        request_validators={hook: compile_schema(f"{hook}.schema.json") for hook in HOOKS},
        feedback_validator=compile_schema("feedback.schema.json"),
        schemas=schemas,
    )
