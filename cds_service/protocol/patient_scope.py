"""Every resource of a call must be about the patient in context: no advice on another's data.

A client that reuses one patient's prefetch for another, or a draft order written for someone
else, must not get advice, or orders suggested, for the wrong person. A ``Patient`` resource
must be the context patient; a resource's ``subject`` or ``patient`` reference, when it names a
Patient, must name the context patient. References are compared by type and id in any form the
FHIR specification allows (relative, absolute, versioned); a reference that names no Patient
(a Group, a contained ``#id``, a ``urn:uuid:``) is not evidence of another patient.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from cds_service.protocol.hook_request import bundle_resources

_REFERRING_FIELDS = ("subject", "patient")
_SHOWN = 64  # characters of an id quoted back in a message


def referenced_patient(reference: str) -> str | None:
    """The id of the Patient that ``reference`` names, or None when it names no Patient."""
    path = urlsplit(reference).path if "://" in reference else reference.split("?")[0]
    parts = [unquote(part) for part in path.split("/") if part]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == "Patient":
        return parts[-1]
    return None


def foreign_patient(
    resource: Mapping[str, Any], patient_id: str, own_reference: str | None = None
) -> str | None:
    """How ``resource`` names a patient other than ``patient_id``, or None when it does not.

    ``own_reference``, from ``own_patient_reference``, spares parsing the common reference.
    """
    kind = resource.get("resourceType")
    if kind == "Patient":
        ident = resource.get("id")
        if isinstance(ident, str) and ident != patient_id:
            return f"Patient/{ident[:_SHOWN]}"
        return None
    for field in _REFERRING_FIELDS:
        value = resource.get(field)
        if value is None:
            continue
        # Decoded JSON gives dicts: the exact-type test spares the ABC check (two per resource).
        is_object = type(value) is dict or isinstance(value, Mapping)
        reference = value.get("reference") if is_object else None
        if isinstance(reference, str) and reference != own_reference:
            named = referenced_patient(reference)
            if named is not None and named != patient_id:
                ident = resource.get("id")
                name = f"{kind!s:.40}/{ident!s:.{_SHOWN}}"
                return f"{name}, whose {field} is Patient/{named[:_SHOWN]}"
    return None


def own_patient_reference(patient_id: str) -> str | None:
    """``Patient/{patient_id}`` when it names exactly that patient (as it does for any id the
    request schema allows), so that a resource referring to it that way needs no parsing."""
    reference = f"Patient/{patient_id}"
    return reference if referenced_patient(reference) == patient_id else None


def first_foreign(resources: Iterable[Mapping[str, Any]], patient_id: str) -> str | None:
    """The first resource about another patient, described for an error message; else None."""
    own = own_patient_reference(patient_id)
    for resource in resources:
        problem = foreign_patient(resource, patient_id, own)
        if problem is not None:
            return problem
    return None


def call_resources(
    prefetch: Mapping[str, Any], context: Mapping[str, Any]
) -> Iterator[tuple[str, Sequence[Mapping[str, Any]]]]:
    """Each place of a call that carries resources, and the resources it carries."""
    for key, value in prefetch.items():
        if isinstance(value, dict):
            kind = value.get("resourceType")
            if kind == "Bundle":
                yield f"prefetch.{key}", bundle_resources(value)
            elif kind != "OperationOutcome":
                yield f"prefetch.{key}", [value]
    yield "context.draftOrders", bundle_resources(context.get("draftOrders"))
