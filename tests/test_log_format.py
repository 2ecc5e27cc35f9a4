"""The JSON log format: one parseable object per line, with the request id and extras."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from cds_service.log_format import (
    REQUEST_ID,
    JsonLogFormatter,
    TextLogFormatter,
    clip,
    configure_logging,
)


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


def _failed_record() -> logging.LogRecord:
    record = _record("failed")
    # Built at run time: a traceback shows source lines, and real code holds no patient data.
    reference = "/".join(("Patient", "p-secret"))
    row = f"Failing row contains ({reference}, discussed with {'Mrs'} X)"
    try:
        try:
            raise KeyError(reference)
        except KeyError as cause:
            raise ValueError(row) from cause
    except ValueError:
        record.exc_info = sys.exc_info()
    return record


def test_an_exception_is_named_and_its_frames_kept_but_never_its_message():
    entry = json.loads(JsonLogFormatter().format(_failed_record()))
    assert entry["exc_type"] == "ValueError" and "Traceback" in entry["exc"]
    assert "test_log_format.py" in entry["exc"] and "_failed_record" in entry["exc"]
    assert "KeyError" in entry["exc"] and "direct cause" in entry["exc"]
    assert "Patient/" not in entry["exc"] and "Mrs X" not in entry["exc"]


def test_the_text_format_withholds_exception_messages_too():
    line = TextLogFormatter("%(message)s").format(_failed_record())
    assert "ValueError" in line and "Traceback" in line
    assert "Patient/" not in line and "Mrs X" not in line


def test_clip_bounds_a_value_and_escapes_what_could_forge_a_line():
    assert clip(None) is None and clip("short") == "short"
    assert clip("a\nb\r\x00\u2028") == "a\\x0ab\\x0d\\x00\\u2028"
    clipped = clip("\n" * 10_000, 50)
    assert clipped is not None and clipped.endswith("…(10000 chars)") and len(clipped) < 80
    assert "\n" not in clipped


def test_the_formatter_bounds_every_message_and_field():
    record = _record("refused %s", "p" * 100_000, path="q" * 100_000)
    line = JsonLogFormatter().format(record)
    assert len(line) < 4_000
    entry = json.loads(line)
    assert entry["message"].endswith("chars)") and entry["path"].endswith("chars)")


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
