"""The markdown ``detail`` of a card: the recommendation, then the evidence behind it.

Written for a narrow side panel: short bold headings and bullets. Text taken from the record
(evidence lines, order names, reasons) is escaped so it cannot inject links or HTML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cds_service.cards import phrase, prose
from cds_service.clinical import Assessment, ClinicalConfig, Evidence

_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~#])")
#: A word a markdown renderer could turn into a link by itself: a URL with a scheme
#: (``https://``, ``ftp://``) or without (``//host``), ``www.``, an e-mail address, ``mailto:``
#: or ``xmpp:`` (GFM's autolinks, remark-gfm in the CDS Hooks Sandbox, markdown-it's linkify).
_LINKISH = re.compile(r"//|www\.|@[^@]*\.[A-Za-z0-9]|(?:mailto|xmpp):", re.IGNORECASE)
#: What every such link has (the leftmost one marks where the link-like part is).
_MARKER = re.compile(r"//|www\.|@|(?:mailto|xmpp):", re.IGNORECASE)
#: Characters of a scheme (``https:``) or of an e-mail's local part, before the marker.
_LINK_HEAD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-_:")
#: Punctuation ending such a word that reads as prose, kept outside its code span.
_CLOSING = ")]}>\"'*_~.,;:!?"


def escape(text: str) -> str:
    """Record text made inert in GitHub-flavoured markdown, on one line.

    Markdown syntax is backslash-escaped. The link-like part of a word (a URL, ``www.``, an
    e-mail address) is shown as code instead: backslashes do not stop every renderer
    (cmark-gfm links ``a\\@b.com`` and the URL in ``\\[x\\](https://…)``), while none links
    inside a code span, and the address stays readable and copyable.
    """
    line = re.sub(r"\s+", " ", text).strip()
    if _LINKISH.search(line) is None:
        # No word of it is link-like (a match inside a word is one in the line): each word is
        # prose, and escaping the line escapes each word, since no escaped character is a space.
        return _prose(line)
    return " ".join(_word(word) for word in line.split(" "))


def _word(word: str) -> str:
    # Plain scans (no backtracking pattern): record text can be a megabyte of one "word".
    marker = _MARKER.search(word) if _LINKISH.search(word) else None
    if marker is None:
        return _prose(word)
    start = marker.start()
    while start > 0 and word[start - 1] in _LINK_HEAD:
        start -= 1
    # From the link's start to the word's end, but for closing punctuation, is code: no
    # link-like text is left outside the span.
    end = max(len(word[start:].rstrip(_CLOSING)) + start, marker.end())
    return _prose(word[:start]) + _code(word[start:end]) + _prose(word[end:])


def _prose(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", text)


def _code(content: str) -> str:
    """A code span holding ``content`` literally, whatever backticks it contains."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if content.startswith("`") or content.endswith("`") else ""
    return f"{fence}{pad}{content}{pad}{fence}"


def detail(
    assessment: Assessment,
    config: ClinicalConfig,
    *,
    lead: Sequence[str] = (),
    advice: Sequence[str] = (),
) -> str:
    """``lead`` paragraphs (markdown), the assessment's evidence, then ``advice`` paragraphs."""
    blocks = [
        *lead,
        _red_flags(assessment),
        _localisation(assessment, config),
        _course(assessment, config),
        _ces_screen(assessment),
        _weak_flags(assessment),
        _differentials(assessment),
        _not_counted(assessment),
        _unavailable(assessment),
        _section(prose.NOTES, [f"- {escape(line)}" for line in assessment.note_remarks]),
        *advice,
    ]
    return "\n\n".join(block for block in blocks if block)


def _section(title: str, lines: Sequence[str]) -> str:
    return "\n".join([f"**{title}**", *lines]) if lines else ""


def _evidence(items: Sequence[Evidence], indent: str = "") -> list[str]:
    # A finding read from a note quotes its sentence, so the clinician can check it at a glance.
    texts = dict.fromkeys(
        (escape(item.text) or escape(item.reference))
        + (f": “{escape(item.quote)}”" if item.quote else "")
        for item in items
    )
    return [f"{indent}- {text}" for text in texts]


def _red_flags(assessment: Assessment) -> str:
    lines: list[str] = []
    for flag in sorted(assessment.red_flags, key=lambda f: f.tier != "emergency"):
        lines.append(f"- {phrase.flag(flag.id)} ({flag.tier})")
        lines.extend(_evidence(flag.evidence, indent="  "))
    return _section(prose.RED_FLAGS, lines)


def _localisation(assessment: Assessment, config: ClinicalConfig) -> str:
    loc = assessment.localisation
    if loc is None:
        return ""
    name = phrase.sentence(phrase.root(loc))
    word = phrase.likelihood(loc, config)
    lines = [prose.ROOT.format(root=name, word=word, meaning=prose.LIKELIHOOD[word])]
    if loc.disc_levels:
        lines.append(prose.DISC_LEVEL.format(levels=" or ".join(loc.disc_levels)))
    if loc.candidates:
        others = phrase.joined(f"{c.side} {c.root}" for c in loc.candidates)
        lines.append(prose.LESS_LIKELY.format(roots=others))
    lines.extend(_evidence(loc.evidence))
    return _section(prose.LOCALISATION, lines)


def _course(assessment: Assessment, config: ClinicalConfig) -> str:
    lines: list[str] = []
    if assessment.symptom_weeks is None:
        lines.append(prose.ONSET_UNKNOWN.format(weeks=phrase.number(config.persistent_weeks)))
    else:
        lines.append(prose.SYMPTOMS_FOR.format(duration=phrase.weeks(assessment.symptom_weeks)))
    if assessment.conservative_care_weeks is None:
        lines.append(prose.NO_CONSERVATIVE_CARE)
    else:
        duration = phrase.weeks(assessment.conservative_care_weeks)
        lines.append(prose.CONSERVATIVE_CARE_STARTED.format(duration=duration))
    if assessment.prior_lumbar_surgery:
        lines.append(prose.PRIOR_SURGERY)
    if assessment.recent_lumbar_mri:
        lines.append(
            prose.RECENT_MRI.format(
                months=config.prior_mri_months, mri=escape(assessment.recent_lumbar_mri)
            )
        )
    if assessment.age_years is not None:
        lines.append(prose.AGE.format(years=assessment.age_years))
    return _section(prose.COURSE, lines)


def _ces_screen(assessment: Assessment) -> str:
    """Present, not documented, and looked for but not found: three lists, in plain words.

    "Documented" alone read as a red flag on a card saying "no red flags" (it only meant both
    legs had been examined), so each item says which way it was documented.
    """
    screen = assessment.ces_screen
    lines: list[str] = []
    if screen.present:
        lines.append(prose.CES_PRESENT.format(items=_items(screen.present)))
    if screen.unknown:
        lines.append(prose.CES_UNKNOWN.format(items=_items(screen.unknown)))
    if screen.absent:
        lines.append(prose.CES_ABSENT.format(items=_items(screen.absent)))
    return _section(prose.CES_SCREEN, lines)


def _items(items: Sequence[str]) -> str:
    return phrase.joined(phrase.ces_item(i) for i in items)


def _weak_flags(assessment: Assessment) -> str:
    if not assessment.weak_flags:
        return ""
    names = phrase.joined(phrase.weak_flag(f) for f in assessment.weak_flags)
    return _section(prose.WEAK_FLAGS, [prose.WEAK_FLAGS_NOTED.format(flags=phrase.sentence(names))])


def _differentials(assessment: Assessment) -> str:
    lines = [
        prose.CONSIDER.format(diagnosis=phrase.differential(d)) for d in assessment.differentials
    ]
    return _section(prose.DIFFERENTIALS, lines)


def _not_counted(assessment: Assessment) -> str:
    # Each evidence line already says why it was not counted (long-standing, no back pain).
    return _section(prose.NOT_COUNTED, _evidence(assessment.not_counted))


_PARTIAL = " (partial)"


def _unavailable(assessment: Assessment) -> str:
    keys = assessment.unavailable_data
    missing = [k for k in keys if not k.endswith(_PARTIAL)]
    partial = [k.removesuffix(_PARTIAL) for k in keys if k.endswith(_PARTIAL)]
    lines = []
    if missing:
        names = phrase.joined(phrase.data_key(k) for k in missing)
        lines.append(prose.NOT_RETRIEVED.format(data=phrase.sentence(names)))
    if partial:
        names = phrase.joined(phrase.data_key(k) for k in partial)
        lines.append(prose.PARTLY_RETRIEVED.format(data=phrase.sentence(names)))
    return _section(prose.UNAVAILABLE, lines)
