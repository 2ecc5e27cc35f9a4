"""The JSON log format: one parseable object per line, with the request id and extras."""

from __future__ import annotations

import io
import json
import logging

import pytest

from cds_service.log_format import REQUEST_ID, JsonLogFormatter, configure_logging


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("radix.test", logging.WARNING, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_a_record_is_one_json_line_with_the_request_id_and_extras():
    token = REQUEST_ID.set("req-7")
    try:
        line = JsonLogFormatter().format(_record("refused %s", "x\ny", auth_reason="expired"))
    finally:
        REQUEST_ID.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "refused x\ny" and entry["request_id"] == "req-7"
    assert entry["level"] == "WARNING" and entry["logger"] == "radix.test"
    assert entry["auth_reason"] == "expired" and entry["time"].endswith("+00:00")


def test_an_exception_is_named_and_its_traceback_kept():
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed")
        import sys

        record.exc_info = sys.exc_info()
    entry = json.loads(JsonLogFormatter().format(record))
    assert entry["exc_type"] == "ValueError" and "Traceback" in entry["exc"]


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_configure_logging_routes_everything_to_one_handler(fmt, restore_logging):
    stream = io.StringIO()
    configure_logging("info", fmt, stream)
    logging.getLogger("radix.app").info("hello")
    logging.getLogger("httpx").info("HTTP Request: GET http://ehr/fhir/Patient/secret")
    text = stream.getvalue()
    assert "hello" in text and "secret" not in text
    if fmt == "json":
        assert json.loads(text.splitlines()[0])["message"] == "hello"
