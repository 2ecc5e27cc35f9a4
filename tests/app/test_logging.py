"""The service log, as ``cds-service serve`` writes it: JSON lines with the request id, and never
a patient's name, identifier or birth date, the EHR's access token, or the client's JWT."""

from __future__ import annotations

import copy
import io
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.app import create_app
from cds_service.log_format import configure_logging
from tests.app.test_application import CASES, _settings
from tests.auth.conftest import SigningKey
from tests.live_server import serve

pytestmark = pytest.mark.integration

SERVICE = "/cds-services/radix-lumbar-radiculopathy"
PUBLIC = "https://radix.example.org"
ISS = "https://ehr.example.org/fhir"
EHR_TOKEN = "ehr-secret-access-token-7d1e"
VIGNETTE = CASES["ces-retention"]


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The root logger configured exactly as ``serve`` does, at DEBUG, into a string."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "sqlalchemy")}
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


def _patient() -> dict[str, Any]:
    patient = next(r for r in VIGNETTE.resources if r["resourceType"] == "Patient")
    assert patient["name"] and patient["identifier"] and patient["birthDate"]
    return patient


def _secrets(patient: dict[str, Any]) -> list[str]:
    names = [patient["name"][0]["family"], *patient["name"][0]["given"]]
    return [*names, patient["identifier"][0]["value"], patient["birthDate"], EHR_TOKEN]


def _token(key: SigningKey, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISS, "aud": PUBLIC + SERVICE, "iat": now, "exp": now + 300, "tenant": "site-a"}
    return key.sign({**body, "jti": uuid.uuid4().hex, **claims}, typ="JWT")


async def test_logs_are_json_with_the_request_id_and_free_of_patient_data_and_tokens(
    log_stream, fhir_server, tmp_path
):
    fhir_server.reset()
    fhir_server.clear_faults()
    fhir_server.load(VIGNETTE.resources)
    fhir_server.require_token(EHR_TOKEN)
    key = SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "log-" + uuid.uuid4().hex)
    trust = tmp_path / "trusted.json"
    client = {
        "iss": ISS,
        "jwks": {"keys": [key.public_jwk]},
        "algorithms": ["ES384"],
        "tenants": ["site-a"],
    }
    trust.write_text(json.dumps({"clients": [client]}))
    settings = _settings(
        tmp_path, auth_required=True, trusted_clients_file=trust, public_base_url=PUBLIC
    )
    patient = _patient()
    # The Patient travels in prefetch; conditions and observations are fetched with the token.
    full = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": copy.deepcopy(VIGNETTE.context),
        "fhirServer": fhir_server.base_url,
        "fhirAuthorization": {
            "access_token": EHR_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "radix",
        },
        "prefetch": {"patient": patient},
    }
    # Patient data where it does not belong: the schema refuses it, the answer may quote it.
    misplaced = copy.deepcopy(full)
    misplaced["context"]["patientId"] = f"{patient['name'][0]['family']} {patient['birthDate']}"
    refused_jwt = _token(key, tenant="site-unknown", sub=patient["identifier"][0]["value"])
    tokens = [_token(key), _token(key), refused_jwt]

    app = create_app(settings, clock=lambda: VIGNETTE.as_of)
    try:
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=15) as c:
            ok = await c.post(
                SERVICE,
                json=full,
                headers={"Authorization": f"Bearer {tokens[0]}", "X-Request-ID": "leak-test-1"},
            )
            bad = await c.post(
                SERVICE, json=misplaced, headers={"Authorization": f"Bearer {tokens[1]}"}
            )
            unauthenticated = await c.post(
                SERVICE,
                json=full,
                headers={"Authorization": f"Bearer {refused_jwt}", "X-Request-ID": "leak-test-3"},
            )
    finally:
        fhir_server.require_token(None)

    assert ok.status_code == 200, ok.text
    assert ok.headers["x-request-id"] == "leak-test-1"
    assert any(r["method"] == "GET" and r["authorization"] for r in fhir_server.requests())
    assert bad.status_code == 400 and unauthenticated.status_code == 401
    log = log_stream.getvalue()
    entries = [json.loads(line) for line in log.splitlines()]

    # The log says what happened and to which request...
    access = {
        (e.get("request_id"), e.get("status")) for e in entries if e["logger"] == "radix.access"
    }
    assert ("leak-test-1", 200) in access and ("leak-test-3", 401) in access
    assert (bad.headers["x-request-id"], 400) in access
    refusal = next(e for e in entries if e.get("auth_reason"))
    assert refusal["auth_reason"] == "tenant-not-allowed" and refusal["request_id"] == "leak-test-3"
    assert ISS in refusal["iss"] and refusal["jti"]
    # ...and nothing about the patient, nor any credential.
    for secret in [*_secrets(patient), *tokens, *(t.rsplit(".", 1)[1] for t in tokens)]:
        assert secret not in log, f"{secret[:12]}… leaked into the log"
