"""The ASGI application: routes, CORS, error handling, and the resources opened per process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from cds_service.advisor import Advisor, Clock, utc_now
from cds_service.app import endpoints, error_handlers
from cds_service.app.analytics import analytics_routes
from cds_service.clinical.knowledge import load_knowledge
from cds_service.data.fhir_client import FhirClient
from cds_service.data.fhir_server_policy import FhirServerPolicy
from cds_service.data.patient_record import RecordGatherer
from cds_service.errors import ServiceError
from cds_service.protocol.catalogue import load_catalogue
from cds_service.settings import Settings
from cds_service.store.store import Store

if TYPE_CHECKING:
    from cds_service.auth.client_authenticator import ClientAuthenticator

logger = logging.getLogger("radix.app")


def build_advisor(settings: Settings, http: httpx.AsyncClient, clock: Clock = utc_now) -> Advisor:
    """Everything a hook call needs but HTTP: catalogue, knowledge, FHIR access, thresholds."""
    policy = FhirServerPolicy(
        allow_loopback=settings.fhir_allow_loopback, allow_private=settings.fhir_allow_private
    )
    catalogue = load_catalogue()
    return Advisor(
        catalogue=catalogue,
        knowledge=load_knowledge(settings.local_codes_dir, settings.clinical),
        gatherer=RecordGatherer(
            client=FhirClient(http, policy, settings.fhir_max_response_bytes),
            essential=catalogue.essential_prefetch,
            deadline_seconds=settings.fhir_deadline_seconds,
            max_pages=settings.fhir_max_pages,
        ),
        clinical=settings.clinical,
        clock=clock,
    )


def _warm_fhir_models() -> None:
    """Pay fhir.resources' import and first-validation cost (~0.3 s) at start, not on a call."""
    from fhir.resources.R4B.servicerequest import ServiceRequest

    ServiceRequest.model_validate(
        {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": "Patient/warm-up"},
        }
    )


def new_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one pooled client for FHIR servers (and JWKS); per-request time is bounded too."""
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(settings.fhir_deadline_seconds),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        trust_env=False,
    )


def create_app(
    settings: Settings | None = None,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = utc_now,
    authenticator: ClientAuthenticator | None = None,
    store: Store | None = None,
) -> Starlette:
    """Build the app. Tests inject an HTTP transport (to intercept outbound calls) and a clock."""
    settings = settings or Settings()
    http = new_http_client(settings, http_transport)
    if authenticator is None and settings.auth_required:
        from cds_service.auth.client_authenticator import ClientAuthenticator

        authenticator = ClientAuthenticator.from_settings(settings, http)
    runtime = endpoints.Runtime(
        settings=settings,
        advisor=build_advisor(settings, http, clock),
        store=store or Store.from_settings(settings),
        http=http,
        authenticator=authenticator,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runtime.authenticator is None:
            logger.warning(
                "AUTHENTICATION IS OFF (RADIX_AUTH_REQUIRED=false): any caller can use this "
                "service and read its advice. Never run like this with real patient data."
            )
        _warm_fhir_models()
        await runtime.store.open()
        logger.info(
            "Radix ready: knowledge %s, store %s",
            runtime.advisor.knowledge.version,
            "SQLite" if runtime.store.sqlite else "PostgreSQL",
        )
        try:
            yield
        finally:
            # Drain the audit queue before anything it needs goes away.
            await runtime.store.close()
            if runtime.authenticator is not None:
                await runtime.authenticator.aclose()
            await runtime.http.aclose()

    routes = [
        Route("/cds-services", endpoints.discovery, methods=["GET"]),
        Route("/cds-services/{service_id}", endpoints.hook_call, methods=["POST"]),
        Route("/cds-services/{service_id}/feedback", endpoints.feedback, methods=["POST"]),
        Route("/livez", endpoints.livez, methods=["GET"]),
        Route("/readyz", endpoints.readyz, methods=["GET"]),
        *analytics_routes(runtime.store, settings),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origin_list,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=600,
            )
        ],
        exception_handlers={
            ServiceError: error_handlers.service_error,
            HTTPException: error_handlers.http_error,
            Exception: error_handlers.unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
