"""No patient data in the log, even when the database fails; no unbounded line, whatever comes in.

The database is made to refuse every write on a real PostgreSQL (a CHECK constraint no row meets,
a dropped table): PostgreSQL's own error text quotes the refused row ("Failing row contains
(…, Patient/…, {assessment}, …)") and SQLAlchemy's adds the statement's parameters, so an
exception message or traceback in the log would carry the patient reference, the assessment and
the clinician's override comment. The log must carry the error class and counts only.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from cds_service.app import create_app
from cds_service.log_format import configure_logging
from tests.app.signed_client import SignedClient
from tests.app.test_application import CASES, SERVICE_OF, _settings, hook_request
from tests.live_server import serve
from tests.store.conftest import Backend

pytestmark = pytest.mark.integration

ADMIN = "log-privacy-admin-token"
VIGNETTE = CASES["ces-retention"]
PV = SERVICE_OF["patient-view"]
CALL = f"/cds-services/{PV}"
FEEDBACK = f"/cds-services/{PV}/feedback"
COMMENT = "Spoke-with-Mrs-Tanaka-about-her-bladder"
MAX_LINE = 4096


@pytest.fixture(params=["json", "text"])
def log_stream(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The root logger configured as ``cds-service serve`` does, at DEBUG, into a string."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "sqlalchemy")}
    stream = io.StringIO()
    configure_logging("DEBUG", request.param, stream)
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


async def _execute(backend: Backend, *statements: str) -> None:
    engine = backend.engine()
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_database_errors_leave_no_patient_data_in_the_log(
    postgres_backend: Backend, tmp_path: Path, log_stream: io.StringIO
) -> None:
    patient_id = VIGNETTE.context["patientId"]
    await _execute(
        postgres_backend,
        "ALTER TABLE audit_event ADD CONSTRAINT refuse_all CHECK (status_code < 0)",
        "ALTER TABLE feedback ADD CONSTRAINT refuse_comments CHECK (user_comment IS NULL)",
    )
    store = postgres_backend.store()
    settings = _settings(tmp_path, admin_token=ADMIN)
    app = create_app(settings, store=store, clock=lambda: VIGNETTE.as_of)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        answer = await http.post(CALL, json=hook_request(VIGNETTE, "privacy-1"))
        assert answer.status_code == 200, answer.text
        card = answer.json()["cards"][0]
        item = {
            "card": card["uuid"],
            "outcome": "overridden",
            "overrideReason": {"userComment": COMMENT},
            "outcomeTimestamp": "2026-11-20T09:45:00Z",
        }
        refused = await http.post(FEEDBACK, json={"feedback": [item]})
        await store.flush_audit()
        await _execute(postgres_backend, "DROP TABLE audit_card")
        admin = {"Authorization": f"Bearer {ADMIN}"}
        analytics = await http.get("/analytics/summary", headers=admin)

    assert refused.status_code == 503 and analytics.status_code == 503
    assert store.audit_failed == 1  # refused by the database while it answered: lost, and said so
    log = log_stream.getvalue()
    assert "audit record lost" in log and "IntegrityError" in log
    assert "feedback not stored" in log and "analytics not read" in log
    for secret in (
        "Patient/",
        patient_id,
        COMMENT,
        "Failing row",
        "parameters",
        '"disposition"',
        "cauda-equina/urinary-retention",
    ):
        assert secret not in log, secret
    assert all(len(line) < MAX_LINE for line in log.splitlines())


async def test_a_60_kb_request_writes_no_line_over_a_few_kb(
    tmp_path: Path, log_stream: io.StringIO
) -> None:
    ehr = SignedClient.in_folder(tmp_path, ["site-a"])
    app = create_app(_settings(tmp_path, **ehr.settings()))
    long_path = "/cds-services/" + "x" * 60_000
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        answers = [
            await http.post(long_path, json={}),
            await http.post(long_path, json={}, headers=ehr.headers(long_path)),
            await http.get("/nothing" + "/y" * 30_000),
            await http.post(CALL, json={}, headers={"Authorization": "Bearer " + "z" * 60_000}),
            await http.post(CALL, json={}, headers=ehr.headers(CALL, tenant="t" * 60_000)),
            await http.post(long_path + "%0A%0Dforged-line", json={}),
        ]
    # 414 / 431: a limit on the request line or headers (a proxy's, or the server's own).
    assert all(a.status_code in (401, 404, 414, 431) for a in answers), answers
    lines = log_stream.getvalue().splitlines()
    assert lines, "nothing was logged"
    longest = max(len(line) for line in lines)
    assert longest < MAX_LINE, longest
    # The refusals were logged, with the path cut rather than dropped.
    assert any("xxxxxxxx" in line and "chars)" in line for line in lines)
    assert not any(line.startswith("forged-line") for line in lines)
    for line in lines:
        if line.startswith("{"):
            json.loads(line)
