"""Bytes → validated ``HookRequest`` or feedback items; every failure is a clear 400."""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from cds_service.errors import bad_request
from cds_service.protocol.catalogue import ServiceDefinition
from cds_service.protocol.hook_request import FhirAuthorization, HookRequest

_MAX_MESSAGE = 300


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise bad_request("The request body is empty; a JSON object is required.", "empty-body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}", "malformed-json") from None


def parse_hook_request(
    body: bytes, service: ServiceDefinition, validator: Draft202012Validator
) -> HookRequest:
    """Decode and validate a service call against the hook's schema."""
    doc = decode_json(body)
    if not isinstance(doc, dict):
        raise bad_request("The request body must be a JSON object.", "not-an-object")
    hook = doc.get("hook")
    if isinstance(hook, str) and hook != service.hook:
        raise bad_request(
            f"Service '{service.id}' answers the '{service.hook}' hook, not '{hook[:64]}'.",
            "wrong-hook",
        )
    _validate(doc, validator)
    auth = doc.get("fhirAuthorization")
    return HookRequest(
        service_id=service.id,
        hook=doc["hook"],
        hook_instance=doc["hookInstance"],
        context=doc["context"],
        prefetch=doc.get("prefetch") or {},
        fhir_server=doc.get("fhirServer"),
        fhir_authorization=(
            FhirAuthorization(
                access_token=auth["access_token"],
                token_type=auth["token_type"],
                scope=auth["scope"],
                subject=auth["subject"],
                expires_in=auth.get("expires_in"),
                patient=auth.get("patient"),
            )
            if auth
            else None
        ),
    )


def parse_feedback(body: bytes, validator: Draft202012Validator) -> list[dict[str, Any]]:
    """Decode and validate a feedback request; returns its feedback items."""
    doc = decode_json(body)
    if not isinstance(doc, dict):
        raise bad_request("The request body must be a JSON object.", "not-an-object")
    _validate(doc, validator)
    return list(doc["feedback"])


def _validate(doc: dict[str, Any], validator: Draft202012Validator) -> None:
    error = best_match(validator.iter_errors(doc))
    if error is None:
        return
    where = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    ).lstrip(".")
    message = f"{where or 'request'}: {error.message}"
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    raise bad_request(
        f"The request does not conform to CDS Hooks 2.0: {message}", "invalid-request"
    )
