"""Schemathesis against ``/openapi.json`` on the running app: no input yields a 5xx.

Bounded so CI stays fast: a few examples per operation, no deadline. The app runs under uvicorn
in a thread (schemathesis calls it synchronously); ``fhirServer`` values are confined to
127.0.0.1 (which loopback rules then refuse) and a recording transport refuses every outbound
request, so no generated URL is resolved or fetched.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cds_service.app import create_app
from cds_service.resources import data_dir
from cds_service.settings import Settings
from tests.auth.conftest import SigningKey, write_trust_file

PUBLIC = "https://radix.example.org"
ISS = "https://ehr.example.org/fhir"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
_DOCUMENT = json.loads((data_dir("hooks") / "openapi.json").read_text(encoding="utf-8"))
OPERATIONS = [
    f"{method.upper()} {path}"
    for path, item in _DOCUMENT["paths"].items()
    for method in item
    if method in ("get", "post")
]
#: Operations with something to get wrong (a body, a query); the others have nothing to negate.
NEGATABLE = [
    f"{method.upper()} {path}"
    for path, item in _DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in ("get", "post")
    and (
        "requestBody" in operation
        or any(p.get("in") == "query" for p in operation.get("parameters", []))
    )
]
CASES = [(label, "positive") for label in OPERATIONS] + [(label, "negative") for label in NEGATABLE]


class Refusing(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        raise httpx.ConnectError("no outbound request in the fuzz tests", request=request)


def _run(settings: Settings, transport: Refusing) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings, http_transport=transport)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
    assert transport.urls == [], "the app made an outbound request"


def _settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "auth_required": False,
        "fhir_server_hosts": "127.0.0.1",
        "fhir_deadline_seconds": 1.0,
        "public_base_url": PUBLIC,
        "max_body_bytes": 65_536,
        "rate_limit_per_minute": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def open_app(tmp_path_factory) -> Iterator[str]:
    yield from _run(_settings(tmp_path_factory.mktemp("fuzz-open")), Refusing())


@pytest.fixture(scope="module")
def open_api(open_app: str) -> Any:
    return schemathesis.openapi.from_url(f"{open_app}/openapi.json")


def _fuzz(api: Any, label: str, mode: Any, call: Any) -> None:
    operation = api.find_operation_by_label(label)
    assert operation is not None, label

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        call(case)

    run()


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_no_input_gives_a_server_error(open_api: Any, open_app: str, label: str, mode: str) -> None:
    _fuzz(
        api=open_api,
        label=label,
        mode=schemathesis.GenerationMode(mode),
        call=lambda case: case.call_and_validate(base_url=open_app, checks=CHECKS),
    )


# --- the same with authentication on and a fresh, valid CDS client JWT per call --------------


@pytest.fixture(scope="module")
def client_key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "fuzz-" + uuid.uuid4().hex)


@pytest.fixture(scope="module")
def guarded_app(tmp_path_factory, client_key: SigningKey) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("fuzz-guarded")
    trust = write_trust_file(folder, ISS, client_key)
    settings = _settings(folder, auth_required=True, trusted_clients_file=trust)
    yield from _run(settings, Refusing())


@pytest.fixture(scope="module")
def guarded_api(guarded_app: str) -> Any:
    return schemathesis.openapi.from_url(f"{guarded_app}/openapi.json")


@pytest.mark.parametrize("label", OPERATIONS)
def test_no_input_gives_a_server_error_with_authentication_on(
    guarded_api: Any, guarded_app: str, client_key: SigningKey, label: str
) -> None:
    def call(case: Any) -> None:
        now = int(time.time())
        claims = {
            "iss": ISS,
            "aud": PUBLIC + case.formatted_path,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        token = client_key.sign(claims, typ="JWT")
        case.call_and_validate(
            base_url=guarded_app, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
        )

    _fuzz(guarded_api, label, schemathesis.GenerationMode.POSITIVE, call)
