"""HTML notes as plain text, with the standard library's tokenizing parser only.

``html.parser`` only tokenizes: it runs no script, loads no resource, resolves no external
entity. Script, style and template contents are dropped; block elements (paragraphs, list items,
headings, table rows, line breaks) become line breaks, so they end sentences as they do on screen.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_DROPPED = frozenset(
    {"script", "style", "template", "noscript", "head", "title", "object", "iframe", "svg", "math"}
)
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
        "dd",
        "dt",
        "dl",
        "hr",
        "td",
        "th",
        "caption",
        "thead",
        "tbody",
        "main",
        "aside",
        "nav",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
    }
)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_LINES = re.compile(r"\s*\n\s*")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._dropped = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            self._dropped += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self._dropped = max(0, self._dropped - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._dropped:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The text a reader sees, one block per line; malformed HTML is read as far as it goes."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    text = _SPACES.sub(" ", "".join(parser.parts))
    return _LINES.sub("\n", text).strip()
