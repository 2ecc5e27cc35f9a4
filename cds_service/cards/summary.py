"""Card summaries: one line naming the finding and the action, always under 140 characters."""

from __future__ import annotations

import re

#: CDS Hooks: "One-sentence, <140-character summary"; Inferno rejects 140 itself.
LIMIT = 140
_ELLIPSIS = "…"
#: Below this many characters a clipped finding says nothing; clip the whole line instead.
_MIN_FINDING = 24


def summary(finding: str, action: str) -> str:
    """``"<finding>: <action>"``, clipping the finding first so the action survives."""
    finding, action = _squash(finding), _squash(action)
    line = f"{finding}: {action}" if finding else action
    if len(line) < LIMIT:
        return line
    room = LIMIT - 1 - len(": ") - len(action)
    if finding and room >= _MIN_FINDING:
        return f"{_clip(finding, room)}: {action}"
    return _clip(line, LIMIT - 1)


def _squash(text: str) -> str:
    # A summary is one line: newlines and runs of blanks from record text would break it.
    return re.sub(r"\s+", " ", text).strip()


def _clip(text: str, room: int) -> str:
    """``text`` cut to at most ``room`` characters, at a word boundary when one is near."""
    if len(text) <= room:
        return text
    cut = text[: room - len(_ELLIPSIS)]
    space = cut.rfind(" ")
    if space >= len(cut) // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:(+-/") + _ELLIPSIS
