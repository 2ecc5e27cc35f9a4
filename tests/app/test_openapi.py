"""The OpenAPI document: valid OpenAPI 3.1, self-contained when served, and true to the routes."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from schemathesis.specs.openapi.definitions import OPENAPI_31
from starlette.routing import Route

from cds_service.app import create_app
from cds_service.app.openapi_document import openapi_document
from cds_service.resources import data_dir
from tests.app.test_application import _settings
from tests.live_server import serve

COMMITTED = data_dir("hooks") / "openapi.json"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _meta_errors(document: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(OPENAPI_31)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_the_committed_document_is_valid_openapi_3_1():
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.1")
    assert _meta_errors(document) == []


def test_the_committed_document_references_the_hook_schemas_for_bodies():
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    files = {ref.partition("#")[0] for ref in _refs(document) if not ref.startswith("#")}
    assert files == {
        "patient-view.schema.json",
        "order-select.schema.json",
        "order-sign.schema.json",
        "feedback.schema.json",
        "cds-response.schema.json",
    }
    assert all((COMMITTED.parent / name).is_file() for name in files)


def test_the_served_document_is_valid_and_every_ref_resolves_inside_it():
    document = openapi_document()
    assert _meta_errors(document) == []
    resolver = Registry().with_resource("urn:doc", Resource.opaque(document)).resolver("urn:doc")
    refs = _refs(document)
    assert refs and all(ref.startswith("#/") for ref in refs)
    for ref in set(refs):
        resolver.lookup(f"urn:doc{ref}")  # raises if the pointer leads nowhere


def test_the_served_request_schemas_accept_and_refuse_like_the_hook_schemas():
    from cds_service.protocol.catalogue import load_catalogue

    document = openapi_document()
    registry = Registry().with_resource("urn:doc", Resource.opaque(document))
    body = document["paths"]["/cds-services/{service_id}"]["post"]["requestBody"]
    pointer = "/paths/~1cds-services~1{service_id}/post/requestBody/content/application~1json"
    schema = {"$ref": f"urn:doc#{pointer}/schema"}
    served = Draft202012Validator(schema, registry=registry)
    assert body["required"] is True
    catalogue = load_catalogue()
    good = {
        "hook": "patient-view",
        "hookInstance": "h",
        "context": {"userId": "Practitioner/p", "patientId": "pat1"},
    }
    bad = {**good, "context": {"userId": "nobody"}}
    for doc in (good, bad):
        assert served.is_valid(doc) == catalogue.request_validators["patient-view"].is_valid(doc)


def _app_operations(tmp_path) -> set[tuple[str, str]]:
    app = create_app(_settings(tmp_path))
    operations = set()
    for route in app.routes:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET route
                operations.add((route.path, method.lower()))
    return operations


def test_paths_and_methods_equal_the_app_routes(tmp_path):
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    assert documented == _app_operations(tmp_path)


def test_every_cds_operation_documents_the_refusals_the_app_gives():
    document = openapi_document()
    paths = document["paths"]
    common = {"401", "429", "500"}
    assert common <= set(paths["/cds-services"]["get"]["responses"])
    call = set(paths["/cds-services/{service_id}"]["post"]["responses"])
    assert {"200", "400", "404", "408", "412", "413"} | common <= call
    feedback = set(paths["/cds-services/{service_id}/feedback"]["post"]["responses"])
    assert {"200", "400", "404", "408", "413"} | common <= feedback
    assert {"200", "503"} == set(paths["/readyz"]["get"]["responses"])


async def test_openapi_json_is_served_as_the_bundled_document(tmp_path):
    app = create_app(_settings(tmp_path, auth_required=True))
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/openapi.json")
    # Served without authentication: it describes the API, it holds nothing about patients.
    assert response.status_code == 200
    assert response.json() == openapi_document()


@pytest.mark.skipif(shutil.which("python3") is None, reason="no system python3")
def test_openapi_spec_validator_accepts_the_served_document(tmp_path):
    """Cross-check with openapi-spec-validator where the system Python has it (not a dependency)."""
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(openapi_document()))
    probe = subprocess.run(
        ["python3", "-c", "import openapi_spec_validator"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip("openapi-spec-validator is not installed in the system Python")
    result = subprocess.run(
        [
            "python3",
            "-c",
            "import json, sys; from openapi_spec_validator import validate; "
            "validate(json.load(open(sys.argv[1])))",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
