"""``GET /openapi.json``: ``hooks/openapi.json`` with the ``hooks/*.schema.json`` it references
inlined under ``components/schemas``, so a client needs nothing but this one document."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cds_service.app.json_response import JsonResponse
from cds_service.resources import data_dir

_SCHEMA_SUFFIX = ".schema.json"


@cache
def openapi_document(hooks_dir: Path | None = None) -> dict[str, Any]:
    """The committed document, self-contained: every file ``$ref`` becomes a component ``$ref``."""
    folder = hooks_dir or data_dir("hooks")
    document = json.loads((folder / "openapi.json").read_text(encoding="utf-8"))
    inlined: dict[str, Any] = {}
    pending = list(_file_refs(document))
    while pending:
        name = pending.pop()
        if name in inlined:
            continue
        schema = json.loads((folder / name).read_text(encoding="utf-8"))
        # Without $id the refs inside resolve against this document, where they now point.
        schema.pop("$id", None)
        schema.pop("$schema", None)
        inlined[name] = schema
        pending.extend(_file_refs(schema))
    for name, schema in inlined.items():
        component = _component(name)
        document["components"]["schemas"][component] = _rewrite(schema, component)
    rewritten: dict[str, Any] = _rewrite(document, None)
    return rewritten


async def openapi(request: Request) -> Response:
    return JsonResponse(openapi_document())


def _component(file_name: str) -> str:
    return file_name.removesuffix(_SCHEMA_SUFFIX)


def _file_refs(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                found.add(ref.partition("#")[0])
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _rewrite(node: Any, component: str | None) -> Any:
    """Point file refs and (inside an inlined schema) its local refs at the components."""
    if isinstance(node, list):
        return [_rewrite(item, component) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _rewrite(value, component) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str):
        target, _, fragment = ref.partition("#")
        if target:
            out["$ref"] = f"#/components/schemas/{_component(target)}{fragment}"
        elif component is not None:
            out["$ref"] = f"#/components/schemas/{component}{fragment}"
    return out
