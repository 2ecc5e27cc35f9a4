"""Prometheus metrics: the families Radix exports.

Every layer records into the families defined here; this module imports nothing of Radix, so
any layer may import it. They are created when this module is first imported: in
``cds-service serve`` that is after ``cds_service.metrics_endpoint.prepare_multiprocess`` has
switched prometheus-client to its multiprocess mode, so that the numbers of every process add
up at one endpoint (see that module). Gauges say how they combine across processes
(``multiprocess_mode``). Without that switch (tests that run the app in their own process) the
same families live in the default registry of that process.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: Seconds: a hook call answers from memory in milliseconds, or waits on the FHIR deadline (4 s).
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)

# --- HTTP and hook calls ------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "radix_http_requests",
    "HTTP requests answered, by route template, method and status code",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "radix_http_request_duration_seconds",
    "Time from request to the end of the answer, by route template",
    ["route"],
    buckets=_CALL_BUCKETS,
)
HOOK_CALLS = Counter(
    "radix_hook_calls",
    "Hook service calls, by service, HTTP status and error kind (none when answered)",
    ["service", "status", "error_kind"],
)
HOOK_CALL_DURATION = Histogram(
    "radix_hook_call_duration_seconds",
    "Time to answer a hook call (authentication, FHIR fallback and evaluation), by service",
    ["service"],
    buckets=_CALL_BUCKETS,
)
CARDS = Counter(
    "radix_cards",
    "Cards returned, by service, indicator and the assessment's disposition",
    ["service", "indicator", "disposition"],
)
ORDER_RATINGS = Counter(
    "radix_order_ratings",
    "Imaging orders rated (Argonaut PAMA rating), by service and rating",
    ["service", "rating"],
)
BODY_BUDGET_WAITS = Counter(
    "radix_body_budget_waits",
    "Calls that waited for their turn to decode their body (RADIX_BODIES_IN_FLIGHT_BYTES)",
)
RATE_LIMITED = Counter(
    "radix_rate_limit_refusals",
    "Calls refused with 429 because the client was over its rate limit, by route template",
    ["route"],
)
JWT_REFUSALS = Counter(
    "radix_jwt_refusals",
    "CDS client JWTs refused (401), by reason (the reasons of the README's attack matrix)",
    ["reason"],
)

# --- FHIR fallback ------------------------------------------------------------------------------

FHIR_REQUESTS = Counter(
    "radix_fhir_requests",
    "Requests to EHR FHIR servers (prefetch fallback), by outcome (ok or the failure reason)",
    ["outcome"],
)
FHIR_FAILURES = Counter(
    "radix_fhir_request_failures",
    "Requests to EHR FHIR servers that failed, by reason",
    ["reason"],
)
FHIR_DURATION = Histogram(
    "radix_fhir_request_duration_seconds",
    "Time of one FHIR request, from sending it to the end of its body or its failure",
    buckets=_CALL_BUCKETS,
)

# --- Store and Redis ----------------------------------------------------------------------------

AUDIT_QUEUE_DEPTH = Gauge(
    "radix_audit_queue_depth",
    "Audit records waiting to be written, summed over the live processes",
    multiprocess_mode="livesum",
)
AUDIT_OVERFLOW = Counter(
    "radix_audit_overflow",
    "Audit records not queued (queue full or store closed): calls answered without a row",
)
AUDIT_LOST = Counter(
    "radix_audit_lost",
    "Audit records queued but never written, after every retry (each one is logged)",
)
AUDIT_UNCONFIRMED = Counter(
    "radix_audit_unconfirmed",
    "Hook calls answered before their audit row was committed (the commit wait ran out)",
)
DATABASE_ERRORS = Counter(
    "radix_database_errors",
    "Errors raised by the database driver (connecting or executing), by exception type",
    ["error"],
)
REDIS_ERRORS = Counter(
    "radix_redis_errors",
    "Redis commands that failed, by what used Redis",
    ["component"],
)
BUILD_INFO = Gauge(
    "radix_build_info",
    "Always 1: the package and knowledge version this process serves",
    ["version", "knowledge_version"],
    multiprocess_mode="max",
)
