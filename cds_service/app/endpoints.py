"""The HTTP endpoints: discovery, hook calls, feedback, health."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson
from anyio import CapacityLimiter
from starlette.requests import Request
from starlette.responses import Response

from cds_service import metrics
from cds_service.app.body_budget import BodyBudget
from cds_service.app.json_response import JsonResponse
from cds_service.app.observability import observe_hook_call
from cds_service.app.off_loop import off_loop_if_large, parse_threads
from cds_service.app.rate_limiter import peer_key
from cds_service.app.refusals import RefusalLog
from cds_service.app.request_body import check_declared_size, read_body, require_json
from cds_service.auth import audience_url
from cds_service.cards import with_legacy_system_actions
from cds_service.errors import DatabaseUnavailable, InternalError, ServiceError, Unauthenticated
from cds_service.protocol import OutcomeWindow, parse_feedback
from cds_service.store import AuditCard, AuditRating, AuditRecord, StoreUnavailable

if TYPE_CHECKING:
    from cds_service.advisor import Advice, Advisor
    from cds_service.app.rate_limiter import ClientLimiter, RateLimiter
    from cds_service.auth import ClientAuthenticator, ClientIdentity
    from cds_service.cards import Card
    from cds_service.protocol import HookRequest
    from cds_service.settings import Settings
    from cds_service.store import Store

logger = logging.getLogger("radix.app")


@dataclass
class Runtime:
    """What the endpoints share: built and opened by the lifespan, closed when it ends.

    The advisor's FHIR client, the authenticator and the rate limiter are the lifespan's to close
    (``cds_service.app.application._opened``); the endpoints only use them.
    """

    settings: Settings
    advisor: Advisor
    store: Store
    authenticator: ClientAuthenticator | None = None
    rate_limiter: ClientLimiter | None = None
    #: Refused calls per peer address, counted before authentication (see ``_admit``).
    peer_gate: RateLimiter | None = None
    #: Bodies are decoded and validated in these threads, off the event loop.
    parse_threads: CapacityLimiter = field(default_factory=parse_threads)
    #: Bytes of bodies held decoded at once (``RADIX_BODIES_IN_FLIGHT_BYTES``); built from
    #: the settings.
    bodies: BodyBudget = field(init=False)
    #: Refused requests, counted in memory (never audit rows); built from the catalogue.
    refusals: RefusalLog = field(init=False)

    def __post_init__(self) -> None:
        self.refusals = RefusalLog(self.advisor.catalogue.services)
        self.bodies = BodyBudget(
            self.settings.bodies_in_flight_bytes, self.settings.bodies_in_flight_wait_seconds
        )

    @property
    def outcome_window(self) -> OutcomeWindow:
        return OutcomeWindow(
            max_past=timedelta(days=self.settings.feedback_max_past_days),
            max_future=timedelta(hours=self.settings.feedback_max_future_hours),
        )


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _authenticate(request: Request, runtime: Runtime) -> ClientIdentity | None:
    if runtime.authenticator is None:
        return None
    from cds_service.auth import AuthenticationFailed

    # aud is the URL the client was configured to call: a public base URL plus the path,
    # never the Host header a proxy or an attacker controls.
    audiences = [audience_url(base, request.url.path) for base in runtime.settings.public_base_urls]
    try:
        return await runtime.authenticator.authenticate(
            request.headers.get("authorization"), audiences
        )
    except AuthenticationFailed:
        raise Unauthenticated("Authentication failed.") from None


async def _admit(request: Request, runtime: Runtime) -> ClientIdentity | None:
    """Admit a CDS call: the cheap refusals by peer address first, then the JWT, then the rate.

    A peer whose calls keep being refused (bad tokens, oversized bodies) is answered 429 before
    any header is parsed or signature verified, so a flood of invalid tokens costs a bucket
    lookup each. Only refusals spend the peer's budget: EHRs behind one proxy address are not
    throttled together for their successful calls. No body is read before authentication.
    """
    peer = peer_key(request)
    if runtime.peer_gate is not None:
        runtime.peer_gate.check(peer)
    try:
        if request.method == "POST":
            check_declared_size(request, runtime.settings.max_body_bytes)
        identity = await _authenticate(request, runtime)
    except ServiceError:
        if runtime.peer_gate is not None:
            runtime.peer_gate.spend(peer)
        raise
    if runtime.rate_limiter is not None:
        await runtime.rate_limiter.admit(_client_key(peer, identity))
    return identity


def _client_key(peer: str, identity: ClientIdentity | None) -> str:
    """Authenticated: one bucket per EHR, by trusted ``iss``, whatever address it calls from.

    ``tenant`` splits it only when the trust file lists the issuer's tenants: otherwise it is
    any string the client signs, and a fresh one per token would be a fresh bucket per call.
    """
    if identity is None:
        return peer
    tenant = identity.tenant if identity.tenant_allowlisted else None
    return orjson.dumps(["client", identity.iss, tenant]).decode()


async def discovery(request: Request) -> Response:
    runtime = _runtime(request)
    await _admit(request, runtime)
    return JsonResponse(runtime.advisor.catalogue.discovery())


async def hook_call(request: Request) -> Response:
    runtime = _runtime(request)
    service_id: str = request.path_params["service_id"]
    received_at = runtime.advisor.clock()
    started = time.perf_counter()
    identity: ClientIdentity | None = None
    hook_request: HookRequest | None = None
    advice: Advice | None = None
    body = b""
    status, error_kind = 200, None
    admitted = False
    held = 0
    try:
        identity = await _admit(request, runtime)
        admitted = True
        runtime.advisor.service(service_id)
        require_json(request)
        body = await read_body(request, runtime.settings.max_body_bytes, _body_timeout(runtime))
        held = await runtime.bodies.acquire(len(body))
        hook_request = await off_loop_if_large(
            runtime.parse_threads, body, runtime.advisor.parse, service_id, body
        )
        advice = await runtime.advisor.respond(hook_request)
        if _wants_legacy_system_actions(runtime, identity):
            return JsonResponse(with_legacy_system_actions(advice.response))
        return JsonResponse(advice.response)
    except ServiceError as exc:
        status, error_kind = exc.status, exc.kind
        raise
    except Exception:
        status, error_kind = InternalError.status, InternalError.kind
        raise
    finally:
        record = _audit_record(
            _CallIds.of(runtime, service_id, hook_request, body),
            received_at,
            started,
            identity,
            advice,
            status,
            error_kind,
        )
        observe_hook_call(record)
        # The decoded request and the evaluation (tens of thousands of objects) are freed now,
        # while still in the CPU's caches, not after the wait for the audit commit below: held
        # through it by every call in flight, freeing them later cost 0.6 ms of CPU a call.
        hook_request = advice = None
        body = b""
        if held:
            runtime.bodies.release(held)
        # Only the calls of an admitted client (authenticated, or authentication off, and not
        # throttled) to a service of the catalogue are audit rows; any other refusal is a
        # counter (error_handlers), so that a flood of strangers costs nothing durable.
        if admitted and service_id in runtime.advisor.catalogue.services:
            number = runtime.store.audit(record)
            # The answer leaves once its row is committed: a replica killed right after
            # answering must not take the row with it. Bounded, so a slow database delays but
            # never blocks.
            wait = runtime.settings.audit_commit_wait_seconds
            if (
                number is not None
                and wait > 0
                and not await runtime.store.audit_committed(number, wait)
            ):
                metrics.AUDIT_UNCONFIRMED.inc()


def _body_timeout(runtime: Runtime) -> float:
    return runtime.settings.body_timeout_seconds


def _wants_legacy_system_actions(runtime: Runtime, identity: ClientIdentity | None) -> bool:
    """Per trusted client with authentication on; by the setting in auth-off local mode."""
    if identity is not None:
        return identity.legacy_system_actions
    return runtime.authenticator is None and runtime.settings.legacy_system_actions


async def feedback(request: Request) -> Response:
    runtime = _runtime(request)
    service_id: str = request.path_params["service_id"]
    identity = await _admit(request, runtime)
    runtime.advisor.service(service_id)
    require_json(request)
    body = await read_body(request, runtime.settings.max_body_bytes, _body_timeout(runtime))
    items = await off_loop_if_large(
        runtime.parse_threads,
        body,
        parse_feedback,
        body,
        runtime.advisor.catalogue.feedback_validator,
        runtime.advisor.limits,
    )
    runtime.outcome_window.check(items, runtime.advisor.clock())
    try:
        stored = await runtime.store.save_feedback(
            service_id,
            items,
            identity.iss if identity else None,
            identity.tenant if identity else None,
        )
    except StoreUnavailable:
        raise store_unavailable("The feedback could not be stored now") from None
    return JsonResponse({"received": len(items), "stored": stored})


def store_unavailable(what: str) -> DatabaseUnavailable:
    """The 503 for a database that cannot be used now; the client is asked to retry."""
    return DatabaseUnavailable(
        f"{what}: the database is unavailable. Retry after {StoreUnavailable.retry_after} s.",
        StoreUnavailable.retry_after,
    )


async def livez(request: Request) -> Response:
    return JsonResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when every dependency a call needs answers: the store, and the shared replay cache
    (Redis) when there is one, since without it every token is refused."""
    runtime = _runtime(request)
    checks = {"store": runtime.store.ready()}
    if runtime.authenticator is not None and runtime.authenticator.shared_replay_cache:
        checks["replayCache"] = runtime.authenticator.replay_cache_ready()
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    ready = all(results.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "knowledgeVersion": runtime.advisor.knowledge.version,
        **{name: "ok" if up else "unavailable" for name, up in results.items()},
    }
    return JsonResponse(body, status_code=200 if ready else 503)


@dataclass(frozen=True)
class _CallIds:
    """What identifies a hook call in the audit trail, however far it got."""

    service_id: str
    hook: str
    hook_instance: str
    patient_reference: str | None

    @classmethod
    def of(
        cls, runtime: Runtime, service_id: str, request: HookRequest | None, body: bytes
    ) -> _CallIds:
        if request is not None:
            return cls(
                service_id, request.hook, request.hook_instance, f"Patient/{request.patient_id}"
            )
        # Refused before it parsed: keep the service's hook and, if readable, the hookInstance.
        service = runtime.advisor.catalogue.services.get(service_id)
        try:
            doc = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            doc = None
        instance = doc.get("hookInstance") if isinstance(doc, dict) else None
        return cls(
            service_id,
            service.hook if service else "",
            instance[:256] if isinstance(instance, str) else "",
            None,
        )


def _audit_record(
    ids: _CallIds,
    received_at: Any,
    started: float,
    identity: ClientIdentity | None,
    advice: Advice | None,
    status: int,
    error_kind: str | None,
) -> AuditRecord:
    """The audit row of a call, from the typed advice (never from the body sent): the cards as
    built, and the assessment, its knowledge version and the ratings from the evaluation."""
    cards: list[AuditCard] = []
    assessment: dict[str, Any] | None = None
    ratings: list[AuditRating] = []
    knowledge_version: str | None = None
    if advice is not None:
        evaluated = advice.evaluation.assessment
        assessment = evaluated.to_extension()
        knowledge_version = evaluated.knowledge_version
        # Every card of a call cites the one assessment of the call, and so its rules.
        cards = [_audit_card(card, evaluated.rules) for card in advice.response["cards"]]
        ratings = [
            {"reference": r.reference, "rating": r.rating} for r in advice.evaluation.order_ratings
        ]
    return AuditRecord(
        hook_instance=ids.hook_instance,
        service_id=ids.service_id,
        hook=ids.hook,
        received_at=received_at,
        latency_ms=(time.perf_counter() - started) * 1000,
        issuer=identity.iss if identity else None,
        tenant=identity.tenant if identity else None,
        patient_reference=ids.patient_reference,
        cards=cards,
        assessment=assessment,
        order_ratings=ratings,
        knowledge_version=knowledge_version,
        status_code=status,
        error_kind=error_kind,
    )


def _audit_card(card: Card, rules: tuple[str, ...]) -> AuditCard:
    """What analytics needs of a card: its ids and words, the rules behind it, what it offered."""
    return {
        "uuid": card["uuid"],
        "summary": card["summary"],
        "indicator": card["indicator"],
        "rules": list(rules),
        "suggestions": [
            {"uuid": s["uuid"], "label": s["label"]} for s in card.get("suggestions", [])
        ],
    }
