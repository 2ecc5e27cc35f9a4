"""``cds-service`` as an operator runs it: the installed console script, settings from RADIX_*."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from cds_service.app import create_app
from cds_service.clinical.knowledge import load_knowledge
from cds_service.settings import Settings
from cds_service.store.audit_record import AuditRecord
from cds_service.store.engine import create_engine
from cds_service.store.migration import current_revision, head_revision
from cds_service.store.schema import audit_card, audit_event, feedback
from cds_service.store.store import Store
from tests.app.test_application import CASES, SERVICE_OF, _settings, hook_request
from tests.live_server import free_port, serve

CLI = Path(sys.executable).with_name("cds-service")
OVERRIDE = "https://radix-cds.org/fhir/CodeSystem/override-reason"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


async def _cli(env: dict[str, str], *args: str, stdin: bytes | None = None) -> Run:
    process = await asyncio.create_subprocess_exec(
        str(CLI),
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=120)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def _env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without its RADIX_* settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADIX_")}
    env.update(RADIX_DATA_DIR=str(data_dir), RADIX_LOG_LEVEL="WARNING", RADIX_AUTH_REQUIRED="false")
    env.update({f"RADIX_{k.upper()}": v for k, v in settings.items()})
    return env


def _no_traceback(run: Run) -> None:
    assert "Traceback" not in run.out + run.err, run.err


# --- --version and the configuration -------------------------------------------------------


async def test_version_names_the_package_and_the_knowledge_it_would_serve(tmp_path: Path) -> None:
    run = await _cli(_env(tmp_path / "data"), "--version")
    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        f"radix-cds {version('radix-cds')}",
        f"knowledge {load_knowledge(None, Settings().clinical).version}",
    ]
    assert run.err == ""
    # The knowledge version covers the thresholds, so it follows the configuration.
    eight_weeks = await _cli(_env(tmp_path / "data", persistent_weeks="8"), "--version")
    assert eight_weeks.code == 0, eight_weeks.err
    expected = load_knowledge(None, Settings(persistent_weeks=8).clinical).version
    assert eight_weeks.out.splitlines()[1] == f"knowledge {expected}" != run.out.splitlines()[1]


COMMANDS = (
    ["serve"],
    ["evaluate", "-"],
    ["migrate"],
    ["report"],
    ["purge", "--older-than", "30"],
    ["--version"],
)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
async def test_a_bad_setting_is_named_by_its_variable(tmp_path: Path, command: list[str]) -> None:
    run = await _cli(_env(tmp_path / "data", port="abc"), *command, stdin=b"{}")
    assert run.code == 2 and run.out == ""
    assert run.err == (
        "cds-service: invalid configuration: RADIX_PORT: "
        "Input should be a valid integer, unable to parse string as an integer\n"
    )
    # one line per bad variable, the value's problem in words, never a secret's value
    two = await _cli(
        _env(tmp_path / "data", log_format="xml", jwks_ttl_seconds="0", admin_token="s3cret"),
        *command,
        stdin=b"{}",
    )
    assert two.code == 2 and two.out == ""
    assert two.err.splitlines() == [
        "cds-service: invalid configuration: RADIX_LOG_FORMAT: Input should be 'json' or 'text'",
        "cds-service: invalid configuration: RADIX_JWKS_TTL_SECONDS: "
        "Input should be greater than 0",
    ]
    assert not (tmp_path / "data").exists()  # nothing was started


async def test_report_usage_errors_show_the_report_usage(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    for bad in (
        ["--from", "2026-03-31", "--to", "2026-03-01"],
        ["--from", "2026-03-01T10:00:00Z", "--to", "2026-03-01T10:00:00Z"],  # an empty window
    ):
        run = await _cli(env, "report", *bad)
        assert run.code == 2 and run.out == ""
        usage, error = run.err.splitlines()
        assert usage == "usage: cds-service report [-h] [--from DATE] [--to DATE] [--csv]"
        assert error == "cds-service report: error: --from must be earlier than --to"


# --- evaluate -----------------------------------------------------------------------------

EVALUATED = (
    "ces-retention",  # patient-view, a critical card
    "hypertension",  # patient-view, no card
    "mri-too-early",  # order-select, a card and a rating
    "sign-repeat-mri",  # order-sign
)


async def test_evaluate_prints_what_the_http_service_answers(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    answers = {}
    for vignette_id in EVALUATED:
        vignette = CASES[vignette_id]
        request = hook_request(vignette, f"cli-{vignette_id}")
        app = create_app(_settings(tmp_path / vignette_id), clock=lambda v=vignette: v.as_of)
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
            answer = await http.post(f"/cds-services/{SERVICE_OF[vignette.hook]}", json=request)
        assert answer.status_code == 200, answer.text

        path = tmp_path / f"{vignette_id}.json"
        path.write_bytes(orjson.dumps(request))
        run = await _cli(env, "evaluate", str(path), "--now", vignette.as_of.isoformat())
        assert run.code == 0, run.err
        assert orjson.loads(run.out) == answer.json(), vignette_id
        answers[vignette_id] = answer.json()

    # stdin and an explicit service give the same answer as a file and the hook's service
    vignette = CASES[EVALUATED[0]]
    run = await _cli(
        env,
        "evaluate",
        "-",
        "--service",
        SERVICE_OF[vignette.hook],
        "--now",
        vignette.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),  # the Z spelling
        stdin=orjson.dumps(hook_request(vignette, f"cli-{vignette.id}")),
    )
    assert run.code == 0, run.err
    assert orjson.loads(run.out) == answers[vignette.id]


async def test_evaluate_answers_a_bad_request_with_an_operation_outcome(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    vignette = CASES["ces-retention"]
    no_user = hook_request(vignette)
    del no_user["context"]["userId"]
    app = create_app(_settings(tmp_path), clock=lambda: vignette.as_of)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        over_http = await http.post(f"/cds-services/{SERVICE_OF['patient-view']}", json=no_user)
    assert over_http.status_code == 400

    cases = [
        # (stdin, extra arguments, the issue code, words of the diagnostics)
        (orjson.dumps(no_user), [], "invalid", "userId"),
        (b"{oops", [], "invalid", "not valid JSON"),
        (orjson.dumps({**no_user, "hook": "encounter-start"}), [], "invalid", "encounter-start"),
        (orjson.dumps(no_user), ["--service", "no-such-service"], "not-found", "no-such-service"),
        (
            orjson.dumps(hook_request(vignette)),
            ["--service", "radix-lumbar-imaging-sign"],
            "invalid",
            "order-sign",
        ),
    ]
    outcomes = []
    for stdin, extra, code, words in cases:
        run = await _cli(env, "evaluate", "-", *extra, stdin=stdin)
        assert run.code == 1, (words, run.err)
        outcome = orjson.loads(run.out)
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == code and words in outcome["issue"][0]["diagnostics"]
        _no_traceback(run)
        outcomes.append(outcome)
    # the command and the service say the same about the same request
    assert outcomes[0] == over_http.json()


async def test_evaluate_refuses_what_is_not_a_request_with_usage_errors(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    missing = await _cli(env, "evaluate", str(tmp_path / "nowhere.json"))
    assert missing.code == 2 and "nowhere.json" in missing.err and missing.out == ""
    bad_now = await _cli(env, "evaluate", "-", "--now", "yesterday", stdin=b"{}")
    assert bad_now.code == 2 and "--now" in bad_now.err
    for run in (missing, bad_now):
        _no_traceback(run)


# --- migrate --------------------------------------------------------------------------------


async def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await current_revision(conn)
    finally:
        await engine.dispose()


async def test_migrate_creates_a_fresh_sqlite_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"
    env = _env(data_dir)
    url = Settings(data_dir=data_dir).sqlalchemy_url
    said = []
    for _ in range(2):  # and running it again changes nothing
        run = await _cli(env, "migrate")
        assert run.code == 0, run.err
        said.append(run.out)
        assert (data_dir / "radix.sqlite3").is_file()
        assert await _revision(url) == head_revision()
    assert said == [
        f"database at revision {head_revision()} (was: none)\n",
        f"database at revision {head_revision()}, already the newest\n",
    ]


@pytest.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database; a subprocess cannot be handed a search_path."""
    name = f"radix_cli_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_store_commands_say_what_they_did_and_alembic_stays_quiet(tmp_path: Path) -> None:
    # RADIX_LOG_LEVEL at its default (INFO), where Alembic would name its dialect and migrations.
    env = _env(tmp_path / "data", log_level="INFO")
    head = head_revision()
    runs = {
        "migrate": await _cli(env, "migrate"),
        "report": await _cli(env, "report", "--csv"),
        "purge": await _cli(env, "purge", "--older-than", "30"),
        "migrate again": await _cli(env, "migrate"),
    }
    assert {name: (run.code, run.err) for name, run in runs.items()} == {
        name: (0, "") for name in runs
    }
    assert runs["migrate"].out == f"database at revision {head} (was: none)\n"
    assert runs["report"].out.startswith("section,key,item,metric,value\ntotal,,,hookCalls,0\n")
    assert runs["purge"].out.startswith("deleted 0 hook calls older than 30 days")
    assert len(runs["purge"].out.splitlines()) == 1
    assert runs["migrate again"].out == f"database at revision {head}, already the newest\n"


async def test_migrate_postgresql_then_the_store_opens(
    tmp_path: Path, postgres_database: str
) -> None:
    env = _env(tmp_path / "data", database_url=postgres_database)
    stale = await _cli(env, "report")
    assert stale.code == 1 and "cds-service migrate" in stale.err
    _no_traceback(stale)

    run = await _cli(env, "migrate")
    assert run.code == 0, run.err
    assert await _revision(postgres_database) == head_revision()
    report = await _cli(env, "report", "--csv")
    assert report.code == 0, report.err
    assert "total,,,hookCalls,0" in report.out.splitlines()


async def test_an_unreachable_database_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = _env(tmp_path / "data", database_url=f"postgresql+asyncpg://radix@127.0.0.1:{port}/x")
    for command in ("migrate", "report"):
        run = await _cli(env, command)
        assert run.code == 1 and run.err.startswith(f"cds-service {command}: "), run.err
        _no_traceback(run)
    for command in ("report", "purge --older-than 30"):
        nowhere = await _cli(_env(tmp_path / "no-such-folder"), *command.split())
        assert nowhere.code == 1 and "no database at" in nowhere.err, nowhere.err
        assert not (tmp_path / "no-such-folder").exists()
    bad_setting = await _cli(_env(tmp_path / "data", audit_batch_size="many"), "report")
    assert bad_setting.code == 2 and "RADIX_AUDIT_BATCH_SIZE" in bad_setting.err
    _no_traceback(bad_setting)


# --- report on a seeded history ---------------------------------------------------------------

FIRST_DAY = datetime(2026, 3, 1, 10, tzinfo=UTC)
CES = ("Refer today to on-call spinal surgery (stat)", "Order emergency MRI (stat)")
PHYSIO = "Refer to physiotherapy"
SWAP = "Cancel the MRI order and refer to physiotherapy"


def _seeded_call(day: int, j: int) -> AuditRecord:
    """Call ``j`` (0-29) of day ``day`` (1-10), received at 10:00 + j minutes that day.

    j 0: patient-view, a critical card (2 suggestions); j 1-9: patient-view, an info card;
    j 10-14: order-select, a warning card; j 15-19: order-select, no card; j 20-27: order-sign,
    no card; j 28: patient-view refused (400); j 29: order-sign refused (412).
    """
    hook = "patient-view" if j < 10 or j == 28 else "order-select" if j < 20 else "order-sign"
    cards: list[dict[str, Any]] = []
    uid = f"card-{day}-{j}"
    if j == 0:
        rules = ["cauda-equina/urinary-retention", "disposition/emergency-red-flag"]
        cards = [_card(uid, "critical", rules, CES)]
    elif j < 10:
        cards = [_card(uid, "info", ["disposition/physiotherapy"], (PHYSIO,))]
    elif j < 15:
        cards = [_card(uid, "warning", ["order-rating/conservative-care-first"], (SWAP,))]
    status, kind = {28: (400, "invalid-request"), 29: (412, "essential-data-unavailable")}.get(
        j, (200, None)
    )
    return AuditRecord(
        hook_instance=f"hi-{day}-{j}",
        service_id=SERVICE_OF[hook],
        hook=hook,
        received_at=FIRST_DAY + timedelta(days=day - 1, minutes=j),
        latency_ms=float(j + 1),
        issuer=None,
        tenant=None,
        patient_reference=None if status != 200 else f"Patient/{day}-{j}",
        cards=cards,
        status_code=status,
        error_kind=kind,
    )


def _card(uid: str, indicator: str, rules: list[str], labels: tuple[str, ...]) -> dict[str, Any]:
    suggestions = [{"uuid": f"{uid}-s{k}", "label": label} for k, label in enumerate(labels)]
    return {
        "uuid": uid,
        "summary": f"{indicator} card",
        "indicator": indicator,
        "rules": rules,
        "suggestions": suggestions,
    }


def _seeded_feedback(day: int, j: int) -> list[dict[str, Any]]:
    """What the clinicians did with the card of call ``j`` on ``day`` (each list: one request).

    Critical: accepted with both suggestions, except day 1 (overridden, comment only).
    Info j 1-4 accepted (j 1 sent twice); j 5-6 overridden for patient preference (j 5 first
    accepted, then overridden a minute later); j 7-9 no response.
    Warning j 10-11 accepted; j 12 overridden, procedure planning; j 13 overridden, specialist
    request; j 14 no response.
    """
    uid = f"card-{day}-{j}"
    at = FIRST_DAY + timedelta(days=day - 1, minutes=j + 1)

    def accepted(*ids: int, minutes: int = 0) -> dict[str, Any]:
        return {
            "card": uid,
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": f"{uid}-s{k}"} for k in ids],
            "outcomeTimestamp": (at + timedelta(minutes=minutes)).isoformat(),
        }

    def overridden(code: str | None) -> dict[str, Any]:
        reason: dict[str, Any] = {"userComment": "seen"}
        if code:
            reason["reason"] = {"system": OVERRIDE, "code": code}
        return {
            "card": uid,
            "outcome": "overridden",
            "overrideReason": reason,
            "outcomeTimestamp": (at + timedelta(minutes=1)).isoformat(),
        }

    if j == 0:
        return [[overridden(None)]] if day == 1 else [[accepted(0, 1)]]
    if j == 1:
        return [[accepted(0)], [accepted(0)]]
    if j <= 4 or j in (10, 11):
        return [[accepted(0)]]
    if j == 5:
        return [[accepted(0)], [overridden("patient-preference")]]
    if j == 6:
        return [[overridden("patient-preference")]]
    return {12: [[overridden("procedure-planning")]], 13: [[overridden("specialist-request")]]}.get(
        j, []
    )


async def _seed(settings: Settings) -> None:
    """Ten days of thirty calls each, and their feedback, through the Store API."""
    store = Store.from_settings(settings)
    await store.open()
    try:
        for day in range(1, 11):
            for j in range(30):
                store.audit(_seeded_call(day, j))
        await store.flush_audit()
        for day in range(1, 11):
            for j in range(30):
                service = _seeded_call(day, j).service_id
                for items in _seeded_feedback(day, j):
                    await store.save_feedback(service, items, None, None)
        # Feedback about a card Radix never showed, answered on 5 March.
        orphan = {
            "card": "never-shown",
            "outcome": "overridden",
            "overrideReason": {"userComment": "?"},
            "outcomeTimestamp": "2026-03-05T12:00:00Z",
        }
        await store.save_feedback(SERVICE_OF["patient-view"], [orphan], None, None)
    finally:
        await store.close()


def _csv(out: str) -> dict[tuple[str, str, str, str], str]:
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["section", "key", "item", "metric", "value"]
    return {(s, k, i, m): v for s, k, i, m, v in rows[1:]}


async def test_report_on_a_seeded_history_matches_hand_counts(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    await _seed(Settings(data_dir=tmp_path / "data"))

    text_run = await _cli(env, "report")
    assert text_run.code == 0, text_run.err
    # 10 days x 30 calls. Cards: per day 1 critical + 9 info + 5 warning = 15, so 150.
    # Accepted: critical 9 (days 2-10) + info 4 x 10 + warning 2 x 10 = 69.
    # Overridden: critical 1 (day 1) + info 2 x 10 + warning 2 x 10 = 41. No response:
    # info 3 x 10 + warning 1 x 10 = 40.
    assert (
        "Hook calls: 300. Cards shown: 150 (accepted 69, overridden 41, no response 40). "
        "Feedback for cards not on record: 1."
    ) in text_run.out

    csv_run = await _cli(env, "report", "--csv")
    assert csv_run.code == 0, csv_run.err
    rows = _csv(csv_run.out)
    expected = {
        ("total", "", "", "hookCalls"): "300",
        ("total", "", "", "shown"): "150",
        ("total", "", "", "accepted"): "69",
        ("total", "", "", "overridden"): "41",
        ("total", "", "", "noResponse"): "40",
        ("total", "", "", "feedbackWithoutCard"): "1",
        # per day: patient-view j 0-9 and 28; order-select j 10-19; order-sign j 20-29
        ("hook", "patient-view", "", "calls"): "110",
        ("hook", "patient-view", "", "errors"): "10",
        ("hook", "patient-view", "invalid-request", "errorKind"): "10",
        ("hook", "order-select", "", "calls"): "100",
        ("hook", "order-select", "", "errors"): "0",
        ("hook", "order-sign", "", "calls"): "90",
        ("hook", "order-sign", "essential-data-unavailable", "errorKind"): "10",
        # patient-view latencies: 1..10 ms and 29 ms, ten of each; nearest rank of 110 values
        ("hook", "patient-view", "", "p50_ms"): "6.0",  # rank 55
        ("hook", "patient-view", "", "p90_ms"): "10.0",  # rank 99
        ("hook", "patient-view", "", "p95_ms"): "29.0",  # rank 105
        ("hook", "patient-view", "", "max_ms"): "29.0",
        ("indicator", "critical", "", "shown"): "10",
        ("indicator", "critical", "", "accepted"): "9",
        ("indicator", "critical", "", "overridden"): "1",
        ("indicator", "critical", "", "noResponse"): "0",
        ("indicator", "info", "", "shown"): "90",
        ("indicator", "info", "", "accepted"): "40",
        ("indicator", "info", "", "overridden"): "20",
        ("indicator", "info", "", "noResponse"): "30",
        ("indicator", "warning", "", "shown"): "50",
        ("indicator", "warning", "", "accepted"): "20",
        ("indicator", "warning", "", "overridden"): "20",
        ("indicator", "warning", "", "noResponse"): "10",
        ("rule", "cauda-equina/urinary-retention", "", "accepted"): "9",
        ("rule", "disposition/emergency-red-flag", "", "overridden"): "1",
        ("rule", "disposition/physiotherapy", "", "shown"): "90",
        ("rule", "order-rating/conservative-care-first", "", "noResponse"): "10",
        ("rule-suggestion", "disposition/physiotherapy", PHYSIO, "accepted"): "40",
        (
            "rule-override-reason",
            "disposition/physiotherapy",
            f"{OVERRIDE}|patient-preference",
            "count",
        ): "20",
        ("rule-override-reason", "disposition/emergency-red-flag", "uncoded", "count"): "1",
        ("suggestion", CES[0], "", "offered"): "10",
        ("suggestion", CES[0], "", "accepted"): "9",
        ("suggestion", CES[1], "", "accepted"): "9",
        ("suggestion", PHYSIO, "", "offered"): "90",
        ("suggestion", SWAP, "", "offered"): "50",
        ("suggestion", SWAP, "", "accepted"): "20",
        # the EHRs sent codes only: the displays are Radix's own (its CodeSystem)
        (
            "override-reason",
            f"{OVERRIDE}|patient-preference",
            "Patient preference after discussion",
            "count",
        ): "20",
        (
            "override-reason",
            f"{OVERRIDE}|procedure-planning",
            "Surgery or epidural injection being planned",
            "count",
        ): "10",
        (
            "override-reason",
            f"{OVERRIDE}|specialist-request",
            "Requested by a specialist",
            "count",
        ): "10",
        ("override-reason", "uncoded", "", "count"): "1",
    }
    assert {key: rows.get(key) for key in expected} == expected
    assert not any(key[0] == "window" for key in rows)

    # 3 and 4 March, whole days: 60 calls, 30 cards; critical 2 accepted; info 8 accepted,
    # 4 overridden, 6 silent; warning 4 accepted, 4 overridden, 2 silent.
    days = _csv(
        (await _cli(env, "report", "--csv", "--from", "2026-03-03", "--to", "2026-03-04")).out
    )
    assert days[("window", "from", "", "")] == "2026-03-03T00:00:00+00:00"
    assert days[("window", "to", "", "")] == "2026-03-05T00:00:00+00:00"
    assert [
        days[("total", "", "", m)]
        for m in ("hookCalls", "shown", "accepted", "overridden", "noResponse")
    ] == ["60", "30", "14", "8", "8"]
    assert days[("total", "", "", "feedbackWithoutCard")] == "0"  # answered on 5 March

    # 1 March 10:05 (inclusive) to 10:10 (exclusive): j 5-9, five info cards, 2 overridden
    minutes = await _cli(
        env, "report", "--csv", "--from", "2026-03-01T10:05:00Z", "--to", "2026-03-01T10:10:00Z"
    )
    window = _csv(minutes.out)
    assert [
        window[("total", "", "", m)]
        for m in ("hookCalls", "shown", "accepted", "overridden", "noResponse")
    ] == ["5", "5", "0", "2", "3"]

    backwards = await _cli(env, "report", "--from", "2026-03-04", "--to", "2026-03-03")
    assert backwards.code == 2 and "earlier" in backwards.err and backwards.out == ""
    nonsense = await _cli(env, "report", "--from", "last week")
    assert nonsense.code == 2 and "--from" in nonsense.err


def _text_table(text: str, title: str) -> list[list[str]]:
    """The rows of one table of the text report, cells split where two spaces or more are."""
    lines = [*text.splitlines(), ""]
    start = lines.index(title) + 2  # after the title and the header
    end = lines.index("", start)
    return [re.split(r"\s{2,}", line.strip()) for line in lines[start:end]]


async def test_report_shows_the_display_of_radix_override_reasons(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    hl7 = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
    reasons = {
        # Radix's code, and the EHR echoed a display of its own: Radix's display is shown
        "known": {"system": OVERRIDE, "code": "emergency-care-arranged", "display": "booked"},
        # a code Radix never published stands alone
        "unknown": {"system": OVERRIDE, "code": "no-such-reason"},
        # another system's code keeps the display the EHR sent with it
        "hl7": {"system": hl7, "code": "patient-refuses", "display": "Patient refuses"},
    }
    rule = "disposition/emergency-red-flag"
    store = Store.from_settings(settings)
    await store.open()
    try:
        for n, name in enumerate(reasons):
            call = _seeded_call(1, 0)
            store.audit(
                AuditRecord(
                    **{
                        **vars(call),
                        "hook_instance": f"hi-{name}",
                        "received_at": FIRST_DAY + timedelta(minutes=n),
                        "cards": [_card(f"card-{name}", "critical", [rule], CES)],
                    }
                )
            )
        await store.flush_audit()
        for name, reason in reasons.items():
            item = {
                "card": f"card-{name}",
                "outcome": "overridden",
                "overrideReason": {"reason": reason},
                "outcomeTimestamp": (FIRST_DAY + timedelta(hours=1)).isoformat(),
            }
            await store.save_feedback(SERVICE_OF["patient-view"], [item], None, None)
    finally:
        await store.close()

    env = _env(tmp_path / "data")
    text_run = await _cli(env, "report")
    assert text_run.code == 0, text_run.err
    known = [f"{OVERRIDE}|emergency-care-arranged", "Emergency assessment or MRI already arranged"]
    unknown = [f"{OVERRIDE}|no-such-reason"]
    refuses = [f"{hl7}|patient-refuses", "Patient refuses"]
    assert sorted(_text_table(text_run.out, "Override reasons")) == sorted(
        [[*known, "1"], [*unknown, "1"], [*refuses, "1"]]
    )
    assert sorted(_text_table(text_run.out, "Override reasons per rule")) == sorted(
        [[rule, *known, "1"], [rule, *unknown, "1"], [rule, *refuses, "1"]]
    )

    csv_run = await _cli(env, "report", "--csv")
    assert csv_run.code == 0, csv_run.err
    rows = _csv(csv_run.out)
    assert {k[1]: k[2] for k in rows if k[0] == "override-reason"} == {
        known[0]: known[1],
        unknown[0]: "",
        refuses[0]: refuses[1],
    }


# --- purge ------------------------------------------------------------------------------------


async def test_purge_removes_exactly_the_rows_older_than_asked(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    now = datetime.now(UTC)
    ages = {
        "40d": timedelta(days=40),
        "31d": timedelta(days=31),
        "29d": timedelta(days=29),
        "1h": timedelta(hours=1),
    }
    store = Store.from_settings(settings)
    await store.open()
    try:
        for name, age in ages.items():
            card = _card(f"card-{name}", "info", ["disposition/physiotherapy"], (PHYSIO,))
            store.audit(
                AuditRecord(
                    hook_instance=name,
                    service_id=SERVICE_OF["patient-view"],
                    hook="patient-view",
                    received_at=now - age,
                    latency_ms=1.0,
                    issuer=None,
                    tenant=None,
                    patient_reference="Patient/p",
                    cards=[card],
                )
            )
        await store.flush_audit()
        for name in ages:
            item = {
                "card": f"card-{name}",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": f"card-{name}-s0"}],
                "outcomeTimestamp": now.isoformat(),
            }
            await store.save_feedback(SERVICE_OF["patient-view"], [item], None, None)
    finally:
        await store.close()

    # A retention of one day is configured: the command must still do what it is asked.
    env = _env(tmp_path / "data", audit_retention_days="1")
    report = await _cli(env, "report", "--csv")
    assert _csv(report.out)[("total", "", "", "hookCalls")] == "4"  # a report deletes nothing
    run = await _cli(env, "purge", "--older-than", "30")
    assert run.code == 0, run.err
    assert run.out.startswith("deleted 2 hook calls")

    engine = create_engine(settings.sqlalchemy_url)
    try:
        async with engine.connect() as conn:
            events = set((await conn.execute(select(audit_event.c.hook_instance))).scalars())
            cards = set((await conn.execute(select(audit_card.c.uuid))).scalars())
            answered = set((await conn.execute(select(feedback.c.card_uuid))).scalars())
    finally:
        await engine.dispose()
    assert events == {"29d", "1h"}
    assert cards == {"card-29d", "card-1h"}
    # Feedback is purged by when it was received, and all of it arrived just now.
    assert answered == {f"card-{name}" for name in ages}

    again = await _cli(env, "purge", "--older-than", "30")
    assert again.out.startswith("deleted 0 hook calls")
    for days in ("0", "-3", "ten"):
        refused = await _cli(env, "purge", "--older-than", days)
        assert refused.code == 2 and "DAYS" in refused.err
        _no_traceback(refused)


# --- serve ------------------------------------------------------------------------------------


async def test_serve_answers_readyz_then_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(CLI),
        "serve",
        "--port",
        str(port),
        env=_env(tmp_path / "data"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        ready = None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(300):
                assert process.returncode is None, "the service exited before it was ready"
                try:
                    ready = await http.get("/readyz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        assert ready is not None and ready.status_code == 200
        assert ready.json()["status"] == "ok" and ready.json()["store"] == "ok"
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert process.returncode in (0, -signal.SIGTERM), err.decode()[-2000:]
    assert b"Traceback" not in err


async def _serve_with_held_port(env: dict[str, str], port: int) -> Run:
    with socket.socket() as held:
        held.bind(("127.0.0.1", port))
        held.listen()
        return await _cli(env, "serve", "--port", str(port))


async def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    run = await _serve_with_held_port(_env(tmp_path / "data", log_level="INFO"), port)
    assert run.code == 1 and run.out == ""
    in_use = f"cds-service serve: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert run.err == f"{in_use}\n"


async def test_serve_refuses_an_unusable_trust_file_in_one_line(tmp_path: Path) -> None:
    trust = tmp_path / "trusted-clients.json"
    trust.write_text("{not json")
    env = _env(
        tmp_path / "data",
        auth_required="true",
        trusted_clients_file=str(trust),
        redis_url="redis://127.0.0.1:9/0",  # never reached: nothing starts
    )
    for workers in ("1", "2"):  # before any worker is forked
        run = await _cli(env, "serve", "--port", str(free_port()), "--workers", workers)
        _no_traceback(run)
        assert run.code == 2 and run.out == ""
        assert run.err.startswith(f"cds-service serve: trusted clients file {trust}: is not valid")
        assert run.err.count("\n") == 1


async def test_serve_refuses_unusable_site_codes_in_one_line(tmp_path: Path) -> None:
    codes = tmp_path / "site-codes"
    codes.mkdir()
    (codes / "broken.json").write_text('{"resourceType": "ConceptMap", "group": 7}')
    run = await _cli(_env(tmp_path / "data", local_codes_dir=str(codes)), "serve", "--port", "0")
    _no_traceback(run)
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("cds-service serve: cannot load the clinical knowledge: broken.json")
    assert all(line.startswith("cds-service serve: ") for line in run.err.splitlines())


async def test_serve_says_ready_once_it_listens(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(CLI),
        "serve",
        "--port",
        str(port),
        env=_env(tmp_path / "data", log_level="INFO"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    before: list[dict[str, Any]] = []
    try:
        while True:
            line = await asyncio.wait_for(process.stderr.readline(), timeout=60)
            assert line, f"the service exited before it was ready: {before}"
            entry = orjson.loads(line)
            if entry["message"].startswith("Radix ready"):
                break
            before.append(entry)
        # Whatever the line says is true the moment it is written: the port answers.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            ready = await http.get("/readyz")
        assert ready.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=60)
    knowledge = ready.json()["knowledgeVersion"]
    assert entry["logger"] == "radix.app" and entry["level"] == "INFO"
    assert entry["message"] == (
        f"Radix ready: listening on http://127.0.0.1:{port}, knowledge {knowledge}, store SQLite"
    )
    # uvicorn's "Application startup complete" came first; Alembic said nothing
    assert "Application startup complete." in [e["message"] for e in before]
    assert not [e for e in before if e["logger"].startswith("alembic")]
