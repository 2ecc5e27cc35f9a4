"""Which notes are read (decision-rules §6.1) and how HTML becomes text."""

from __future__ import annotations

import base64
from datetime import timedelta

from cds_service.notes.documents import decode_text, select_notes
from cds_service.notes.html_text import html_to_text
from tests.notes.conftest import NOW


def note(
    ident: str,
    *,
    days: float = 1,
    status: str = "current",
    doc_status: str | None = "final",
    content_type: str = "text/plain",
    text: str = "SLR +ve L.",
    dated: bool = True,
    period: bool = False,
) -> dict:
    when = (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    resource: dict = {
        "resourceType": "DocumentReference",
        "id": ident,
        "status": status,
        "subject": {"reference": "Patient/p"},
        "content": [
            {
                "attachment": {
                    "contentType": content_type,
                    "data": base64.b64encode(text.encode()).decode(),
                }
            }
        ],
    }
    if doc_status:
        resource["docStatus"] = doc_status
    if dated:
        resource["date"] = when
    if period:
        resource["context"] = {"period": {"start": when}}
    return resource


def test_only_current_final_recent_text_notes_are_read():
    resources = [
        note("ok"),
        note("amended", doc_status="amended"),
        note("no-doc-status", doc_status=None),
        note("by-period", dated=False, period=True),
        note("html", content_type="text/html"),
        note("error", status="entered-in-error"),
        note("superseded", status="superseded"),
        note("draft", doc_status="preliminary"),
        note("old", days=120),
        note("undated", dated=False),
        note("pdf", content_type="application/pdf"),
        note("charset", content_type="text/plain; charset=utf-8"),
    ]
    selection = select_notes(resources, NOW, 90)
    read = {n.reference.removeprefix("DocumentReference/") for n in selection.notes}
    assert read == {"ok", "amended", "no-doc-status", "by-period", "html", "charset"}
    assert len(selection.remarks) == 1 and "application/pdf" in selection.remarks[0]
    assert "DocumentReference/pdf" in selection.remarks[0]


def test_notes_come_newest_first():
    selection = select_notes([note("a", days=5), note("b", days=1), note("c", days=3)], NOW, 90)
    assert [n.reference for n in selection.notes] == [
        "DocumentReference/b",
        "DocumentReference/c",
        "DocumentReference/a",
    ]


def test_the_age_window_is_a_setting():
    assert select_notes([note("a", days=40)], NOW, 30).notes == ()
    assert len(select_notes([note("a", days=40)], NOW, 60).notes) == 1


def test_html_is_stripped_without_running_or_fetching_anything():
    html = (
        "<div><h3>Triage</h3><script>alert('x'); document.write('retention')</script>"
        "<style>p{}</style><p>Saddle sensation <b>intact</b>;&nbsp;bladder &amp; bowel"
        " normal.</p><ul><li>SLR +ve R</li><li>EHL 2/5 R<img src='http://x/y.png'></li></ul>"
        "<p>unclosed <i>tag"
    )
    text = html_to_text(html)
    assert "alert" not in text and "retention" not in text and "p{}" not in text
    assert text.splitlines() == [
        "Triage",
        "Saddle sensation intact;\xa0bladder & bowel normal.",
        "SLR +ve R",
        "EHL 2/5 R",
        "unclosed tag",
    ]


def test_inline_text_is_base64_utf8():
    data = base64.b64encode("↓ sensation dorsum L foot".encode()).decode()
    assert decode_text(data, "text/plain") == "↓ sensation dorsum L foot"
    html = base64.b64encode(b"<p>EHL 4/5</p><p>AJ absent</p>").decode()
    assert decode_text(html, "text/html") == "EHL 4/5\nAJ absent"
