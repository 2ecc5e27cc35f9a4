"""Text from the record cannot become a live link in a card's markdown ``detail``.

Rendered by two real GFM renderers: cmark-gfm (GitHub's own, with its autolink extension) and
markdown-it with linkify, which link bare ``https://…``, ``www.…`` and e-mail addresses. The
CDS Hooks Sandbox renders with react-markdown and remark-gfm, which link the same forms; no
renderer links inside a code span. Bare domains without ``www.`` (``evil.com``) are linked only
by linkify's non-GFM "fuzzy" mode and are left as prose.
"""

from __future__ import annotations

import copy
import html
import re
from typing import Any

import cmarkgfm
import httpx
import pytest
from markdown_it import MarkdownIt

from cds_service.app import create_app
from cds_service.cards.detail import detail, escape
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Evidence, RedFlag
from tests.app.test_application import CASES, _settings, hook_request
from tests.cards.factory import assessment
from tests.live_server import serve

HOSTILE = [
    "see http://evil.com/x?a=1&b=2 for details",
    "HTTPS://EVIL.COM/path",
    "ftp://evil.com/file",
    "www.evil.com/login",
    "WWW.evil.com",
    "contact mallory@evil.com today",
    "mailto:mallory@evil.com",
    "xmpp:mallory@evil.com/phone",
    "(details at https://evil.com/a).",
    "*https://evil.com*",
    "x`y https://evil.com/`tick`` z",
    "<https://evil.com> and [click](https://evil.com)",
]


def _gfm(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown)


_LINKIFY = MarkdownIt("gfm-like")  # tables, strikethrough and linkify (linkify-it-py) on


def _markdown_it(markdown: str) -> str:
    return _LINKIFY.render(markdown)


def _visible_text(rendered: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()


@pytest.mark.parametrize("render", [_gfm, _markdown_it], ids=["cmark-gfm", "markdown-it"])
@pytest.mark.parametrize("text", HOSTILE)
def test_no_url_or_address_from_the_record_renders_as_a_link(render, text):
    rendered = render(escape(text))
    assert "<a" not in rendered and "href" not in rendered, rendered
    # ...and it still reads as the record wrote it (code spans keep every character).
    assert _visible_text(rendered) == " ".join(text.split())


@pytest.mark.parametrize("render", [_gfm, _markdown_it], ids=["cmark-gfm", "markdown-it"])
def test_the_renderers_would_link_these_words_unescaped(render):
    """The test's renderers do link the raw text: the assertion above can fail."""
    for text in ("see http://evil.com/x", "www.evil.com/login", "mallory@evil.com"):
        assert "<a" in render(text), text


def test_ordinary_clinical_text_is_left_as_prose():
    text = "Ankle dorsiflexion 2/5 (left), 20 Nov 2026: L4-L5 e.g. 38.6 °C; 1:2 ratio"
    assert escape(text) == text
    assert escape("**bold** _x_ [y]") == r"\*\*bold\*\* \_x\_ \[y\]"


def test_a_whole_detail_with_hostile_evidence_has_no_link():
    flag = RedFlag(
        "malignancy",
        "urgent",
        ("malignancy/history",),
        tuple(Evidence(f"Condition/c{n}", text) for n, text in enumerate(HOSTILE)),
    )
    markdown = detail(assessment(red_flags=(flag,)), ClinicalConfig())
    for render in (_gfm, _markdown_it):
        assert "<a" not in render(markdown)


def _with_linked_condition_text(body: dict[str, Any], text: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for entry in body["prefetch"]["conditions"]["entry"]:
        entry["resource"]["code"]["text"] = text
    return body


async def test_a_card_answered_over_http_carries_no_link_from_resource_text(tmp_path):
    """A Condition's ``code.text`` written by whoever edits the record reaches the card as text."""
    case = CASES["ces-retention"]
    hostile = "Urinary retention, see https://evil.com/a and www.evil.com, mallory@evil.com"
    body = _with_linked_condition_text(hook_request(case), hostile)
    app = create_app(_settings(tmp_path), clock=lambda: case.as_of)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await client.post("/cds-services/radix-lumbar-radiculopathy", json=body)
    assert response.status_code == 200, response.text
    details = [card["detail"] for card in response.json()["cards"]]
    assert any("evil.com" in d for d in details)  # the text is shown, not dropped
    for markdown in details:
        assert "<a" not in _gfm(markdown) and "<a" not in _markdown_it(markdown)
