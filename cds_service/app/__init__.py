"""HTTP: the only stage that knows about requests and responses.

``connection_limits`` (uvicorn's HTTP protocol with Radix's limits) is not exported: only
``cds-service serve`` needs it, and importing the app must not import uvicorn.
"""

from cds_service.app.analytics import parse_bound
from cds_service.app.application import build_advisor, create_app, new_fhir_client

__all__ = ["build_advisor", "create_app", "new_fhir_client", "parse_bound"]
