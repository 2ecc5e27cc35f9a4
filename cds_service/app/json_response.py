"""JSON responses rendered with orjson (fast, and no NaN or non-JSON values slip through)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class FhirJsonResponse(JsonResponse):
    """For OperationOutcome bodies: FHIR JSON is JSON, but say what it is."""

    media_type = "application/fhir+json"
