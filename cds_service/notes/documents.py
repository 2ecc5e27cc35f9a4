"""Which DocumentReferences are read, and their text (decision-rules §6.1, input contract §6).

A note is read when its ``status`` is ``current``, its ``docStatus`` (when present) ``final`` or
``amended``, it is dated (``date``, else ``context.period.start``) within the configured window
and it has an attachment of ``text/plain`` or ``text/html``, inline (``data``) or by ``url``.
Other notes are passed over: entered-in-error, superseded and draft notes silently (they are
not the record), notes of another content type with a word on the card (the clinician should
know a letter was not read).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cds_service.clinical import parse_instant
from cds_service.notes.html_text import html_to_text

READABLE = frozenset({"text/plain", "text/html"})
_DOC_STATUSES = frozenset({"final", "amended"})
#: A note dated a little after "now" is still read: EHR and service clocks drift.
_CLOCK_SKEW = timedelta(hours=12)


@dataclass(frozen=True)
class Note:
    """One note to read: where its text is, and what it is."""

    reference: str  # "DocumentReference/d1"
    date: datetime
    content_type: str  # text/plain or text/html
    data: str | None  # base64, inline
    url: str | None  # a Binary on the FHIR server


@dataclass(frozen=True)
class Selection:
    notes: tuple[Note, ...]  # newest first
    #: Clinician-readable lines about notes passed over that the card should mention.
    remarks: tuple[str, ...]


def select_notes(
    resources: Sequence[Mapping[str, Any]], now: datetime, max_age_days: int
) -> Selection:
    """The patient's notes that count, newest first; remarks on readable-looking ones that do
    not (another content type)."""
    notes: list[Note] = []
    remarks: list[str] = []
    oldest = now - timedelta(days=max_age_days)
    for resource in resources:
        if not isinstance(resource, Mapping) or resource.get("resourceType") != "DocumentReference":
            continue
        if resource.get("status") != "current":
            continue
        doc_status = resource.get("docStatus")
        if doc_status is not None and doc_status not in _DOC_STATUSES:
            continue
        date = note_date(resource)
        if date is None or not oldest <= date <= now + _CLOCK_SKEW:
            continue
        reference = f"DocumentReference/{resource.get('id')}"
        attachment, others = _attachment(resource)
        if attachment is None:
            if others:
                kinds = ", ".join(sorted(others))
                remarks.append(
                    f"{reference} ({day(date)}) is {kinds}, which Radix does not read (plain text"
                    " and HTML notes only): what it holds is unknown, not negative"
                )
            continue
        content_type = _media_type(attachment.get("contentType"))
        data, url = attachment.get("data"), attachment.get("url")
        notes.append(
            Note(
                reference,
                date,
                content_type,
                data if isinstance(data, str) else None,
                url if isinstance(url, str) and not isinstance(data, str) else None,
            )
        )
    notes.sort(key=lambda n: (n.date, n.reference), reverse=True)
    return Selection(tuple(notes), tuple(remarks))


def note_date(resource: Mapping[str, Any]) -> datetime | None:
    """``date``, else ``context.period.start`` (input contract §6)."""
    context = resource.get("context")
    period = context.get("period") if isinstance(context, Mapping) else None
    start = period.get("start") if isinstance(period, Mapping) else None
    return parse_instant(resource.get("date")) or parse_instant(start)


def decode_text(data: str, content_type: str) -> str | None:
    """A base64 attachment as text (HTML stripped); None when it is not base64 at all."""
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return None
    return as_text(raw, content_type)


def as_text(raw: bytes, content_type: str) -> str:
    text = raw.decode("utf-8", errors="replace")
    return html_to_text(text) if content_type == "text/html" else text


def day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def _attachment(resource: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, set[str]]:
    others: set[str] = set()
    content = resource.get("content")
    for item in content if isinstance(content, list) else []:
        attachment = item.get("attachment") if isinstance(item, Mapping) else None
        if not isinstance(attachment, Mapping):
            continue
        media = _media_type(attachment.get("contentType"))
        has_text = isinstance(attachment.get("data"), str) or isinstance(attachment.get("url"), str)
        if media in READABLE and has_text:
            return attachment, others
        if has_text:
            others.add(media or "an attachment of no stated type")
    return None, others


def _media_type(value: Any) -> str:
    """``text/plain; charset=utf-8`` → ``text/plain``."""
    return value.split(";", 1)[0].strip().lower() if isinstance(value, str) else ""
