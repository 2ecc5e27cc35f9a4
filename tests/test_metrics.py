"""The metrics endpoint of ``cds-service serve``, scraped after real calls and real faults.

One service process on PostgreSQL and a Redis of the test's own, a real FHIR server for the
fallback: answered calls of every hook, a FHIR fallback with one failing query, refused JWTs,
a client over its rate limit, the audit table taken away (database errors, lost and overflowed
audit records) and Redis stopped. Each family the issue names must then be in the scrape, with
the numbers of what was done. A second test runs two processes on one metrics folder, as
worker processes do, and scrapes their sum from one endpoint. A third follows a W3C
traceparent into every log line of its request.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from cds_service.store.engine import create_engine
from tests.auth.conftest import SigningKey, write_trust_file
from tests.live_server import free_port
from tests.running_service import ServiceProcess, Signer, fresh_database, service_env
from tests.services import ServiceError, throwaway_redis

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = "https://radix.example.org"
ISS = "https://ehr.example.org/fhir"
VIEW = "/cds-services/radix-lumbar-radiculopathy"
SELECT = "/cds-services/radix-lumbar-imaging-select"
SIGN = "/cds-services/radix-lumbar-imaging-sign"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

pytestmark = pytest.mark.integration


def _example(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "examples" / f"{name}.json").read_text())


def _resources(prefetch: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for value in prefetch.values():
        if value.get("resourceType") == "Bundle":
            found.extend(entry["resource"] for entry in value.get("entry", []))
        else:
            found.append(value)
    return found


class Scrape:
    """One scrape of the metrics endpoint, parsed by prometheus-client's own parser."""

    def __init__(self, body: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(body)}

    def value(self, sample: str, **labels: str) -> float:
        """The sum of the samples named ``sample`` whose labels include ``labels``."""
        family = self.families[_family_of(sample)]
        return sum(
            s.value
            for s in family.samples
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
        )


def _family_of(sample: str) -> str:
    for suffix in ("_total", "_count", "_sum", "_bucket", "_created"):
        if sample.endswith(suffix):
            return sample[: -len(suffix)]
    return sample


def _scrape(port: int) -> Scrape:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


def _eventually(port: int, sample: str, at_least: float, **labels: str) -> Scrape:
    """Scrape until ``sample`` reaches ``at_least`` (the store's counts are sampled each second)."""
    deadline = time.monotonic() + 30
    while True:
        scrape = _scrape(port)
        if scrape.value(sample, **labels) >= at_least or time.monotonic() > deadline:
            return scrape
        time.sleep(0.3)


@pytest.fixture
def signer() -> Signer:
    key = SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "ehr-" + uuid.uuid4().hex)
    return Signer(key, ISS, PUBLIC)


@pytest.fixture
def own_redis() -> Iterator[Any]:
    """A Redis of this test's own, so the test can stop it."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_redis())
        except ServiceError as error:
            pytest.fail(f"the throwaway Redis did not start: {error}")
        yield server


async def test_each_family_after_real_calls_and_faults(
    tmp_path, signer, own_redis, postgres_url, fhir_server
):
    trust = write_trust_file(tmp_path, ISS, signer.key, ["site-a", "site-flood"])
    metrics_port = free_port()
    async with fresh_database(postgres_url, "radix_metrics") as database:
        service = ServiceProcess(
            "radix",
            free_port(),
            service_env(
                database_url=database,
                redis_url=own_redis.url,
                trusted_clients_file=str(trust),
                public_base_url=PUBLIC,
                fhir_allow_loopback="true",
                metrics_port=str(metrics_port),
                rate_limit_per_minute="60",
                rate_limit_burst="20",
                audit_queue_size="1",
                # Short, so that the queue fills well before the writer gives the batch up.
                audit_commit_wait_seconds="0.2",
            ),
            tmp_path / "radix.log",
        )
        service.start()
        try:
            service.wait_ready()
            await _drive_and_check(service, signer, own_redis, database, fhir_server, metrics_port)
        finally:
            fhir_server.clear_faults()
            service.stop()


async def _drive_and_check(service, signer, own_redis, database, fhir_server, metrics_port):
    client = httpx.Client(base_url=service.url, timeout=30)

    def call(path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return client.post(path, json=body, headers=headers)

    # 1. Answered calls of every hook: an info card, a critical card, two ratings.
    answered = [
        call(VIEW, _example("patient-view-l5-left"), **signer.headers(VIEW, tenant="site-a")),
        call(VIEW, _example("patient-view-cauda-equina"), **signer.headers(VIEW, tenant="site-a")),
        call(
            SELECT,
            _example("order-select-mri-acute-sciatica"),
            **signer.headers(SELECT, tenant="site-a"),
        ),
        call(
            SIGN,
            _example("order-sign-mri-after-physiotherapy"),
            **signer.headers(SIGN, tenant="site-a"),
        ),
    ]
    assert [r.status_code for r in answered] == [200] * 4, [r.text for r in answered]

    # 2. FHIR fallback: nothing prefetched; one call with every query answered, one with the
    #    procedures query failing (not essential: still answered, and the card says so).
    example = _example("patient-view-l5-left")
    fhir_server.load(_resources(example["prefetch"]))
    fallback = {
        **{k: v for k, v in example.items() if k != "prefetch"},
        "fhirServer": fhir_server.base_url,
        "fhirAuthorization": {
            "access_token": "ehr-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "radix",
        },
    }
    fhir_server.clear_requests()
    assert call(VIEW, fallback, **signer.headers(VIEW, tenant="site-a")).status_code == 200
    fhir_server.set_faults({"Procedure": "status-500"})
    assert call(VIEW, fallback, **signer.headers(VIEW, tenant="site-a")).status_code == 200
    fhir_server.clear_faults()
    fhir_requests = len(fhir_server.requests())

    # 3. JWTs refused: none, replayed, for another endpoint.
    assert call(VIEW, example).status_code == 401
    replayed = signer.headers(VIEW, tenant="site-a")
    assert call(VIEW, example, **replayed).status_code == 200
    assert call(VIEW, example, **replayed).status_code == 401
    assert call(VIEW, example, **signer.headers(SIGN, tenant="site-a")).status_code == 401

    # 4. Another tenant over its rate limit (burst 20): calls until the first 429.
    statuses = []
    while 429 not in statuses and len(statuses) < 60:
        headers = signer.headers("/cds-services", tenant="site-flood")
        statuses.append(client.get("/cds-services", headers=headers).status_code)
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200} and len(statuses) > 20

    # 5. The audit table taken away: the writer's batch fails (database errors), is retried for
    #    a few seconds and then lost. The first call's answer waits 0.2 s for its row in vain
    #    (unconfirmed), the second's record waits in the one-record queue, the third's
    #    overflows. The calls are answered all the same.
    engine = create_engine(database)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE audit_event RENAME TO audit_event_away"))
        faulted = [
            call(VIEW, example, **signer.headers(VIEW, tenant="site-a")).status_code
            for _ in range(3)
        ]
        assert faulted == [200, 200, 200]
        _eventually(metrics_port, "radix_audit_lost_total", 1)
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE audit_event_away RENAME TO audit_event"))
    finally:
        await engine.dispose()

    # 6. Redis stopped: tokens are refused rather than replays let through.
    own_redis.stop()
    assert call(VIEW, example, **signer.headers(VIEW, tenant="site-a")).status_code == 401
    client.close()

    scrape = _eventually(metrics_port, "radix_audit_overflow_total", 1)
    value = scrape.value
    # Hook calls by status and error kind: 4 + 2 + 1 (first use of the replayed token) + 3
    # answered on the radiculopathy service and the two order services; 401s by kind.
    assert value("radix_hook_calls_total", status="200", error_kind="none") == 10
    assert value("radix_hook_calls_total", service="radix-lumbar-imaging-select") == 1
    assert value("radix_hook_calls_total", status="401", error_kind="unauthenticated") == 4
    assert value("radix_hook_call_duration_seconds_count") == 14
    assert value("radix_http_requests_total", route="/cds-services", status="429") == 1
    assert value("radix_http_request_duration_seconds_count", route="/readyz") >= 1
    # Cards by indicator and disposition; ratings.
    assert value("radix_cards_total", indicator="critical", disposition="emergency-referral") == 1
    assert value("radix_cards_total", indicator="info") >= 6
    assert value("radix_order_ratings_total", rating="not-appropriate") == 1
    assert value("radix_order_ratings_total", rating="appropriate") == 1
    # FHIR fallback: every request the FHIR server saw, one failed with a 5xx.
    assert value("radix_fhir_requests_total") == fhir_requests
    assert value("radix_fhir_request_failures_total", reason="http-5xx") == 1
    assert value("radix_fhir_requests_total", outcome="ok") == fhir_requests - 1
    assert value("radix_fhir_request_duration_seconds_count") == fhir_requests
    # JWT refusals by reason, rate limiting, Redis.
    assert value("radix_jwt_refusals_total", reason="missing-token") == 1
    assert value("radix_jwt_refusals_total", reason="replayed-jti") == 1
    assert value("radix_jwt_refusals_total", reason="bad-aud") == 1
    assert value("radix_jwt_refusals_total", reason="replay-cache-unavailable") == 1
    assert value("radix_rate_limit_refusals_total", route="/cds-services") == 1
    assert value("radix_redis_errors_total", component="replay-cache") == 1
    # The audit queue and the database.
    assert "radix_audit_queue_depth" in scrape.families
    assert value("radix_audit_lost_total") >= 1
    assert value("radix_audit_overflow_total") >= 1
    assert value("radix_audit_unconfirmed_total") >= 2
    assert value("radix_database_errors_total") >= 1
    assert value("radix_build_info", version="0.1.0") == 1


async def test_two_processes_add_up_at_one_endpoint(tmp_path, signer):
    """As worker processes will: one folder, the first process serves the sum of both."""
    trust = write_trust_file(tmp_path, ISS, signer.key)
    folder = tmp_path / "metrics"
    folder.mkdir()
    metrics_port = free_port()
    common = {"trusted_clients_file": str(trust), "public_base_url": PUBLIC}
    services = [
        ServiceProcess(
            name,
            free_port(),
            {
                **service_env(data_dir=str(tmp_path / name), metrics_port=port, **common),
                "PROMETHEUS_MULTIPROC_DIR": str(folder),
            },
            tmp_path / f"{name}.log",
        )
        for name, port in (("exporter", str(metrics_port)), ("worker", "0"))
    ]
    for service in services:
        service.start()
    try:
        for service in services:
            service.wait_ready()
        body = _example("patient-view-l5-left")
        for service, calls in zip(services, (2, 3), strict=True):
            for _ in range(calls):
                answer = httpx.post(
                    service.url + VIEW, json=body, headers=signer.headers(VIEW), timeout=30
                )
                assert answer.status_code == 200, answer.text
        scrape = _scrape(metrics_port)
        assert scrape.value("radix_hook_calls_total", status="200") == 5
        assert scrape.value("radix_cards_total", indicator="info") == 5
        # A worker that dies keeps its counts in the total.
        services[1].kill()
        assert _scrape(metrics_port).value("radix_hook_calls_total", status="200") == 5
    finally:
        for service in services:
            service.stop()
    # The folder was the operator's: the service leaves it in place.
    assert folder.is_dir()


async def test_a_traceparent_is_in_every_log_line_of_its_request(tmp_path, signer):
    trust = write_trust_file(tmp_path, ISS, signer.key)
    service = ServiceProcess(
        "radix",
        free_port(),
        service_env(
            data_dir=str(tmp_path / "data"),
            trusted_clients_file=str(trust),
            public_base_url=PUBLIC,
            log_format="json",
        ),
        tmp_path / "radix.log",
    )
    service.start()
    try:
        service.wait_ready()
        traced = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01", "X-Request-ID": "traced-1"}
        # A refused token logs a warning as well as the access line: two lines of one request.
        refused = httpx.post(
            service.url + VIEW,
            json=_example("patient-view-l5-left"),
            headers={**traced, **signer.headers(SIGN)},
            timeout=30,
        )
        assert refused.status_code == 401
        malformed = {"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01", "X-Request-ID": "bad-1"}
        assert httpx.get(service.url + "/livez", headers=malformed, timeout=10).status_code == 200
    finally:
        service.stop()
    entries = service.log_entries()
    lines = [e for e in entries if e.get("request_id") == "traced-1"]
    assert {e["logger"] for e in lines} >= {"radix.access", "cds_service.auth.client_authenticator"}
    assert all(e.get("trace_id") == TRACE_ID for e in lines), lines
    # An all-zero trace id is invalid (W3C Trace Context): no trace id is logged for it.
    [invalid] = [e for e in entries if e.get("request_id") == "bad-1"]
    assert "trace_id" not in invalid
    assert sum(1 for e in entries if e.get("trace_id")) == len(lines)
