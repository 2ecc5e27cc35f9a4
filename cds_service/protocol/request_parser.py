"""Bytes → validated ``HookRequest`` or feedback items; every failure is a clear 4xx.

Limits: nesting deeper than ``max_json_depth`` is a malformed request (400 ``structure``: no
FHIR resource nests anywhere near it); more resources than configured is too large a request
(413 ``too-costly``), like a body over the byte limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from cds_service.errors import (
    EmptyBody,
    InvalidFhirServer,
    InvalidRequest,
    MalformedJson,
    NotAnObject,
    TooDeep,
    TooMany,
    WrongHook,
    WrongPatient,
)
from cds_service.protocol.catalogue import ServiceDefinition
from cds_service.protocol.hook_request import FhirAuthorization, HookRequest
from cds_service.protocol.patient_scope import call_resources, first_foreign
from cds_service.protocol.schema_check import SchemaValidator

_MAX_MESSAGE = 300
_CONTAINERS = (dict, list)
#: For ``nesting_depth``: both brackets of a container become one pair; every byte but brackets
#: and quotes goes (multi-byte UTF-8 holds no ASCII byte, so none is cut in half).
_ONE_BRACKET_PAIR = bytes.maketrans(b"[{]}", b"(())")
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}"')


@dataclass(frozen=True)
class RequestLimits:
    """How large a decoded request may be, beyond its size in bytes."""

    max_depth: int = 64
    max_prefetch_resources: int = 5_000
    max_draft_orders: int = 100
    #: Radix asks for 7 prefetch keys and each hook's context has 2-4 members; the schemas'
    #: ``maxProperties`` say the same (a test keeps them equal).
    max_prefetch_keys: int = 64
    max_context_members: int = 64
    #: Items in a feedback request (feedback.schema.json's ``maxItems``).
    max_feedback_items: int = 500


def check_limits(doc: Any, limits: RequestLimits, body: bytes | None = None) -> None:
    """Refuse documents with too many members (413), nested too deeply (400) or carrying too
    many resources (413).

    Member counts come first and cost nothing: schema validation walks every prefetch key and
    feedback item, reporting each (60,000 ``null`` prefetch keys or 100,000 ``{}`` feedback
    items fit in 1 MiB and took seconds), so they are refused before it. ``body``, the JSON text
    ``doc`` was decoded from, if given, is where the depth is measured: in a few C-level passes
    rather than a Python step per container (0.2 ms for a 60-resource record).
    """
    if isinstance(doc, dict):
        for member, most in (
            ("prefetch", limits.max_prefetch_keys),
            ("context", limits.max_context_members),
            ("feedback", limits.max_feedback_items),
        ):
            value = doc.get(member)
            if isinstance(value, dict | list) and len(value) > most:
                unit = "members" if isinstance(value, dict) else "items"
                raise _too_many(f"{member} has more than {most} {unit}")
    depth = (
        json_depth(doc, limits.max_depth) if body is None else nesting_depth(body, limits.max_depth)
    )
    if depth > limits.max_depth:
        raise TooDeep(
            f"The request nests arrays and objects deeper than {limits.max_depth} levels."
        )
    if not isinstance(doc, dict):
        return
    prefetch = doc.get("prefetch")
    if isinstance(prefetch, dict):
        count = sum(_resource_count(value) for value in prefetch.values())
        if count > limits.max_prefetch_resources:
            raise _too_many(f"prefetch holds more than {limits.max_prefetch_resources} resources")
    context = doc.get("context")
    orders = context.get("draftOrders") if isinstance(context, dict) else None
    if isinstance(orders, dict) and _resource_count(orders) > limits.max_draft_orders:
        raise _too_many(f"context.draftOrders holds more than {limits.max_draft_orders} orders")


def json_depth(doc: Any, stop_above: int) -> int:
    """Nesting depth of arrays and objects (a scalar is 0); stops counting past ``stop_above``."""
    # Level by level, not recursive: a hostile document cannot exhaust the Python stack, and
    # one list comprehension per container keeps this well under a millisecond for 60 resources.
    level = [doc] if isinstance(doc, _CONTAINERS) else []
    depth = 0
    while level:
        depth += 1
        if depth > stop_above:
            return depth
        deeper: list[Any] = []
        for value in level:
            children = value.values() if isinstance(value, dict) else value
            deeper.extend([child for child in children if isinstance(child, _CONTAINERS)])
        level = deeper
    return depth


def nesting_depth(text: bytes, stop_above: int) -> int:
    """Nesting depth of the arrays and objects in a well-formed JSON text; stops counting past
    ``stop_above``.

    The same count as ``json_depth`` of the decoded value, read off the text: or more, where a
    repeated key's value that decoding discards nests deeper (refusing that is no loss).
    """
    if b"\\" in text:
        # Backslashes only escape, inside strings: dropped in pairs from the left, as a parser
        # reads them, then escaped quotes, so that every quote left delimits a string.
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Two quotes side by side are an empty string, or two strings with no bracket between them
    # (fused into one): either way no bracket changes sides. What is left is mostly brackets.
    structure = text.translate(_ONE_BRACKET_PAIR, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])  # what lies outside strings
    # Each pass removes every innermost container, so the number of passes is the depth.
    depth = 0
    while structure:
        depth += 1
        if depth > stop_above:
            return depth
        structure = structure.replace(b"()", b"")
    return depth


def _resource_count(value: Any) -> int:
    if not isinstance(value, dict):
        return 0
    if value.get("resourceType") == "Bundle" or "entry" in value:
        entries = value.get("entry")
        return len(entries) if isinstance(entries, list) else 0
    return 1


def _too_many(what: str) -> TooMany:
    return TooMany(f"The request is too large: {what}.")


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise EmptyBody("The request body is empty; a JSON object is required.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"The request body is not valid JSON: {exc}") from None


def parse_hook_request(
    body: bytes,
    service: ServiceDefinition,
    validator: SchemaValidator,
    limits: RequestLimits | None = None,
) -> HookRequest:
    """Decode and validate a service call against the hook's schema (and ``limits``, if given)."""
    doc = decode_json(body)
    if limits is not None:
        check_limits(doc, limits, body)
    if not isinstance(doc, dict):
        raise NotAnObject("The request body must be a JSON object.")
    hook = doc.get("hook")
    if isinstance(hook, str) and hook != service.hook:
        raise WrongHook(
            f"Service '{service.id}' answers the '{service.hook}' hook, not '{hook[:64]}'."
        )
    _validate(doc, validator)
    if "fhirServer" in doc:
        _check_fhir_server(doc["fhirServer"])
    _check_one_patient(doc)
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


def parse_feedback(
    body: bytes, validator: SchemaValidator, limits: RequestLimits | None = None
) -> list[dict[str, Any]]:
    """Decode and validate a feedback request; returns its feedback items."""
    doc = decode_json(body)
    if limits is not None:
        check_limits(doc, limits, body)
    if not isinstance(doc, dict):
        raise NotAnObject("The request body must be a JSON object.")
    _validate(doc, validator)
    items = list(doc["feedback"])
    for index, item in enumerate(items):
        _check_instant(item["outcomeTimestamp"], f"feedback[{index}].outcomeTimestamp")
    return items


def _check_one_patient(doc: dict[str, Any]) -> None:
    """Refuse a call carrying another patient's data: no advice for the wrong person."""
    patient_id = str(doc["context"]["patientId"])
    for where, resources in call_resources(doc.get("prefetch") or {}, doc["context"]):
        problem = first_foreign(resources, patient_id)
        if problem is not None:
            raise WrongPatient(
                f"{where} holds another patient's data ({problem}), but context.patientId is"
                f" {patient_id[:64]!r}. Radix does not advise on a mixed record."
            )


def _check_instant(text: str, where: str) -> None:
    """The schema checks the RFC 3339 shape; this checks it names a real, representable instant."""
    try:
        # fromisoformat in 3.11 rejects a lowercase "t"/"z", which RFC 3339 allows.
        datetime.fromisoformat(text.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"The request does not conform to CDS Hooks 2.0: {where}: {text[:40]!r} is not a "
            "real date-time."
        ) from None


def _check_fhir_server(url: str) -> None:
    """Only the form: whether its host may be fetched from is decided when Radix fetches."""
    try:
        parts = urlsplit(url)
        acceptable = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and not (parts.username or parts.password)
        )
    except ValueError:
        acceptable = False
    if not acceptable:
        raise InvalidFhirServer(
            "fhirServer must be an http or https URL with a host and without credentials."
        )


def _validate(doc: dict[str, Any], validator: SchemaValidator) -> None:
    error = validator.best_error(doc)
    if error is None:
        return
    where = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    ).lstrip(".")
    message = f"{where or 'request'}: {error.message}"
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    raise InvalidRequest(f"The request does not conform to CDS Hooks 2.0: {message}")
