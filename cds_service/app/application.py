"""The ASGI application: routes, CORS, error handling, and the resources opened per process."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
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
from cds_service.app.observability import (
    MeteredTransport,
    MetricsMiddleware,
    StoreSampler,
    TraceContextMiddleware,
    record_build_info,
)
from cds_service.app.openapi_document import openapi
from cds_service.app.preview import preview_routes
from cds_service.app.rate_limiter import ClientLimiter, RateLimiter
from cds_service.app.request_id import RequestIdMiddleware
from cds_service.clinical import Knowledge, load_knowledge
from cds_service.data import (
    BoundedResolver,
    FhirClient,
    FhirServerPolicy,
    GuardedTransport,
    RecordGatherer,
)
from cds_service.errors import PeerThrottled, ServiceError
from cds_service.notes import NoteReader, NoteSettings
from cds_service.protocol import RequestLimits, load_catalogue
from cds_service.settings import Settings, load_settings
from cds_service.store import Store

if TYPE_CHECKING:
    from cds_service.auth import ClientAuthenticator

logger = logging.getLogger("radix.app")


def fhir_server_policy(settings: Settings) -> FhirServerPolicy:
    return FhirServerPolicy(
        allow_loopback=settings.fhir_allow_loopback,
        allow_private=settings.fhir_allow_private,
        allowed_hosts=settings.fhir_server_host_set,
        resolver=_resolver(settings.fhir_dns_timeout_seconds, settings.fhir_dns_workers),
    )


@functools.lru_cache(maxsize=4)
def _resolver(timeout_seconds: float, workers: int) -> BoundedResolver:
    # One pool per configuration, shared by the URL check and the connecting transport.
    return BoundedResolver(timeout_seconds, workers)


def build_advisor(settings: Settings, fhir: FhirClient, clock: Clock = utc_now) -> Advisor:
    """Everything a hook call needs but HTTP: catalogue, knowledge, FHIR access, thresholds.

    The advisor reads through ``fhir`` and does not own it: whoever opened it closes it.
    """
    catalogue = load_catalogue()
    knowledge = load_knowledge(settings.local_codes_dir, settings.clinical)
    return Advisor(
        catalogue=catalogue,
        knowledge=knowledge,
        gatherer=RecordGatherer(
            client=fhir,
            essential=catalogue.essential_prefetch,
            deadline_seconds=settings.fhir_deadline_seconds,
            max_pages=settings.fhir_max_pages,
            max_resources=settings.max_prefetch_resources,
        ),
        clinical=settings.clinical,
        clock=clock,
        limits=RequestLimits(
            max_depth=settings.max_json_depth,
            max_prefetch_resources=settings.max_prefetch_resources,
            max_draft_orders=settings.max_draft_orders,
        ),
        notes=note_reader(settings, knowledge),
    )


def note_reader(settings: Settings, knowledge: Knowledge) -> NoteReader | None:
    """The notes stage (its pipeline is built by ``start``, in the background), or None."""
    if not settings.notes_enabled:
        return None
    return NoteReader(
        knowledge,
        NoteSettings(
            max_notes=settings.notes_max_per_call,
            max_chars=settings.notes_max_chars,
            max_age_days=settings.notes_max_age_days,
            cache_size=settings.notes_cache_size,
            deadline_seconds=settings.fhir_deadline_seconds,
        ),
    )


async def _freeze_once_notes_are_ready(notes: NoteReader) -> None:
    """Exempt the notes pipeline from the cyclic GC too, once built, if start-up was exempted.

    ``cds-service serve`` freezes what start-up loaded (``gc.freeze``) once the app is up; the
    notes pipeline is built in the background after that, and left ≈75,000 objects for every
    full collection to walk (tens of milliseconds, on whichever request it fell). A process
    that froze nothing (a test, an embedding app) is left as it is: freezing is its choice.
    The build's own garbage (≈40,000 objects in cycles: spaCy's pattern validation errors and
    their tracebacks) is collected first, not frozen for the life of the process.
    """
    with contextlib.suppress(Exception):  # a failed build is the reader's to report
        await notes.until_ready()
        if gc.get_freeze_count():
            gc.collect()
            gc.freeze()


def new_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The pooled client for FHIR servers; per-request time is bounded too.

    Unless a test injects ``transport``, every connection goes to an address the FHIR server
    policy checked at connect time (``GuardedTransport``), which defeats DNS rebinding.
    """
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    return httpx.AsyncClient(
        transport=MeteredTransport(
            transport or GuardedTransport(fhir_server_policy(settings), limits)
        ),
        timeout=httpx.Timeout(settings.fhir_deadline_seconds),
        follow_redirects=False,
        limits=limits,
        trust_env=False,
    )


def new_fhir_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> FhirClient:
    """The FHIR client, owning its pooled HTTP client: ``async with`` opens and closes both."""
    return FhirClient(
        new_http_client(settings, transport),
        fhir_server_policy(settings),
        settings.fhir_max_response_bytes,
    )


def client_rate_limiter(settings: Settings) -> ClientLimiter | None:
    """Per-client buckets: shared through Redis when it is configured, else in this process."""
    per_minute, burst = settings.rate_limit_per_minute, settings.rate_limit_burst
    if per_minute == 0:
        return None
    if settings.redis_url:
        # Imported here: the Redis client (and the cryptography it loads) only when configured.
        from cds_service.app.shared_rate_limiter import SharedRateLimiter

        return SharedRateLimiter.from_url(
            settings.redis_url, per_minute, burst, settings.rate_limit_key_prefix
        )
    return RateLimiter(per_minute, burst)


def peer_gate(settings: Settings) -> RateLimiter | None:
    """Refusals per peer address, always in this process: it guards this process's work."""
    if settings.peer_refusals_per_minute == 0:
        return None
    return RateLimiter(
        settings.peer_refusals_per_minute, settings.peer_refusal_burst, refusal=PeerThrottled
    )


@contextlib.asynccontextmanager
async def _opened(
    settings: Settings,
    store: Store,
    *,
    http_transport: httpx.AsyncBaseTransport | None,
    clock: Clock,
    authenticator: ClientAuthenticator | None,
    peer_gate: RateLimiter | None,
) -> AsyncIterator[endpoints.Runtime]:
    """The process's resources, built and opened; on the way out each is closed in reverse order.

    Nothing here exists before the lifespan starts: each client is built here and entered on the
    stack at once, so a resource that fails to build or open closes those opened before it, and
    a second start (another lifespan on the same app) gets clients of its own. The store opens
    last so that it closes first: the audit queue drains while everything else is still there,
    and the sampler takes its last reading after the drain.
    """
    async with contextlib.AsyncExitStack() as stack:
        fhir = await stack.enter_async_context(new_fhir_client(settings, http_transport))
        if authenticator is None and settings.auth_required:
            from cds_service.auth import ClientAuthenticator

            authenticator = ClientAuthenticator.from_settings(settings, http_transport)
        if authenticator is not None:
            await stack.enter_async_context(authenticator)
        rate_limiter = client_rate_limiter(settings)
        if rate_limiter is not None:
            await stack.enter_async_context(rate_limiter)
        advisor = build_advisor(settings, fhir, clock)
        if advisor.notes is not None:
            # The NLP pipeline builds in a background thread while the store opens.
            advisor.notes.start()
        runtime = endpoints.Runtime(
            settings=settings,
            advisor=advisor,
            store=store,
            authenticator=authenticator,
            rate_limiter=rate_limiter,
            peer_gate=peer_gate,
        )
        sampler = StoreSampler(store)
        stack.callback(sampler.sample)  # after the drain: what it wrote or lost
        stack.push_async_callback(sampler.stop)
        await stack.enter_async_context(store)
        sampler.start()
        yield runtime


def create_app(
    settings: Settings | None = None,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = utc_now,
    authenticator: ClientAuthenticator | None = None,
    store: Store | None = None,
) -> Starlette:
    """Build the app; its lifespan builds and opens what it serves with, and closes it.

    Building is cheap and opens nothing (no client, no connection, no file): the FHIR and JWKS
    clients, the authenticator (its trust file, its replay cache), the rate limiter and the
    advisor (its knowledge) are made by the lifespan (``_opened``), and ``app.state.runtime``
    exists only while it runs. A ``store`` or ``authenticator`` given here is opened and closed
    by the lifespan too. Tests inject an HTTP transport (to intercept outbound calls) and a
    clock.
    """
    settings = settings or load_settings()  # a bad RADIX_* value: ConfigurationError
    # Built here because the analytics routes are bound to them; neither opens anything.
    store = store or Store.from_settings(settings)
    gate = peer_gate(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if authenticator is None and not settings.auth_required:
            logger.warning(
                "AUTHENTICATION IS OFF (RADIX_AUTH_REQUIRED=false): any caller can use this "
                "service and read its advice. Never run like this with real patient data."
            )
        async with _opened(
            settings,
            store,
            http_transport=http_transport,
            clock=clock,
            authenticator=authenticator,
            peer_gate=gate,
        ) as runtime:
            record_build_info(runtime.advisor.knowledge.version)
            notes = runtime.advisor.notes
            freezer = (
                asyncio.create_task(_freeze_once_notes_are_ready(notes))
                if notes is not None
                else None
            )
            app.state.runtime = runtime
            # "Radix ready" is logged by `cds-service serve` once the port is bound, not here.
            try:
                yield
            finally:
                # Its clients are about to close: nothing may reach them through the app.
                del app.state.runtime
                if freezer is not None:
                    freezer.cancel()

    routes = [
        Route("/cds-services", endpoints.discovery, methods=["GET"]),
        Route("/cds-services/{service_id}", endpoints.hook_call, methods=["POST"]),
        Route("/cds-services/{service_id}/feedback", endpoints.feedback, methods=["POST"]),
        Route("/livez", endpoints.livez, methods=["GET"]),
        Route("/readyz", endpoints.readyz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *analytics_routes(store, settings, gate),
        *preview_routes(settings),  # the card preview page at /; none when disabled
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            # Outside the request id, so its access line carries the trace id and is counted.
            Middleware(TraceContextMiddleware),
            Middleware(MetricsMiddleware),
            # Outside CORS and the routes, so every answer (preflights, 500s) carries the id.
            Middleware(RequestIdMiddleware),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origin_list,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"],
                # Chrome asks before a public page (the hosted Sandbox) may call a Radix on
                # localhost or an intranet address; allowed origins may.
                allow_private_network=True,
                max_age=600,
            ),
        ],
        exception_handlers={
            ServiceError: error_handlers.service_error,
            HTTPException: error_handlers.http_error,
            Exception: error_handlers.unexpected_error,
        },
        lifespan=lifespan,
    )
    return app
