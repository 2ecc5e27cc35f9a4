"""The analytics summary as a text report or as CSV (``cds-service report``)."""

from __future__ import annotations

import csv as _csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any, Literal

from cds_service.resources import data_dir
from cds_service.store.analytics import ReasonCount, Summary, Tally

_OutcomeKey = Literal["shown", "accepted", "overridden", "noResponse"]
_LatencyKey = Literal["p50", "p90", "p95", "p99", "max"]
_OUTCOMES: tuple[_OutcomeKey, ...] = ("shown", "accepted", "overridden", "noResponse")
_LATENCY: tuple[_LatencyKey, ...] = ("p50", "p90", "p95", "p99", "max")


def render_report(summary: Summary, csv: bool) -> str:
    """Render ``Store.summary()``: aligned text tables, or long-format CSV for spreadsheets.

    CSV columns are ``section,key,item,metric,value``, one number per row.
    """
    return _render_csv(summary) if csv else _render_text(summary)


@cache
def _radix_reasons() -> tuple[str, Mapping[str, str]]:
    """The system URL and code → display of Radix's override reasons, as published."""
    # The published CodeSystem, not cds_service.cards: the store stage imports nothing above it,
    # and tests/cards checks that the cards offer exactly these codes and displays.
    path = data_dir("valuesets") / "CodeSystem-override-reason.json"
    published = json.loads(path.read_text(encoding="utf-8"))
    return published["url"], {c["code"]: c["display"] for c in published["concept"]}


def _display(reason: ReasonCount) -> str:
    """A reason's display: the published one for Radix's codes, else what the EHR sent.

    Radix's own codes read the same whatever display an EHR echoed back; a code of Radix's
    system that it never published has no display and stands alone.
    """
    system, displays = _radix_reasons()
    if reason.get("system") == system:
        return displays.get(str(reason.get("code")), "")
    return str(reason.get("display", ""))


def _rate(accepted: int, total: int) -> str:
    return f"{100 * accepted / total:.1f}" if total else "-"


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _table(
    title: str, header: Sequence[str], rows: list[list[str]], text_columns: int = 1
) -> list[str]:
    """An aligned table: the first ``text_columns`` columns flush left, the numbers right."""
    if not rows:
        return [title, "  (none)", ""]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return (
            "  "
            + "  ".join(
                c.ljust(w) if n < text_columns else c.rjust(w)
                for n, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )

    return [title, line(header), *(line(r) for r in rows), ""]


def _outcome_row(name: str, entry: Tally) -> list[str]:
    return [
        name,
        *(str(entry[k]) for k in _OUTCOMES),
        _rate(entry["accepted"], entry["shown"]),
    ]


def _render_text(summary: Summary) -> str:
    window = f"from {summary.get('from', 'the beginning')} to {summary.get('to', 'now')}"
    cards = summary["cards"]
    lines = [
        f"Radix CDS analytics, hook calls received {window}",
        f"Hook calls: {summary['hookCalls']}. Cards shown: {cards['shown']} "
        f"(accepted {cards['accepted']}, overridden {cards['overridden']}, "
        f"no response {cards['noResponse']}). "
        f"Feedback for cards not on record: {summary['feedbackWithoutCard']}.",
        "",
    ]
    outcome_header = ["shown", "accepted", "overridden", "no response", "accepted %"]
    lines += _table(
        "Latency per hook (ms)",
        ["hook", "calls", "errors", *_LATENCY],
        [
            [
                h["hook"],
                str(h["calls"]),
                str(h["errors"]),
                *(_ms(h["latencyMs"][k]) for k in _LATENCY),
            ]
            for h in summary["hooks"]
        ],
    )
    lines += _table(
        "Cards per indicator",
        ["indicator", *outcome_header],
        [_outcome_row(i["indicator"], i) for i in summary["indicators"]],
    )
    lines += _table(
        "Cards per rule",
        ["rule", *outcome_header],
        [_outcome_row(r["rule"], r) for r in summary["rules"]],
    )
    lines += _table(
        "Suggestions",
        ["suggestion", "offered", "accepted", "accepted %"],
        [
            [
                s["suggestion"],
                str(s["offered"]),
                str(s["accepted"]),
                _rate(s["accepted"], s["offered"]),
            ]
            for s in summary["suggestions"]
        ],
    )
    lines += _table(
        "Override reasons",
        ["reason", "display", "count"],
        [[o["reason"], _display(o), str(o["count"])] for o in summary["overrideReasons"]],
        text_columns=2,
    )
    per_rule = [
        [r["rule"], o["reason"], _display(o), str(o["count"])]
        for r in summary["rules"]
        for o in r["overrideReasons"]
    ]
    lines += _table(
        "Override reasons per rule", ["rule", "reason", "display", "count"], per_rule, 3
    )
    return "\n".join(lines)


def _csv_rows(summary: Summary) -> Iterator[list[Any]]:
    for bound in ("from", "to"):
        if bound in summary:
            yield ["window", bound, "", "", summary[bound]]
    yield ["total", "", "", "hookCalls", summary["hookCalls"]]
    for k in _OUTCOMES:
        yield ["total", "", "", k, summary["cards"][k]]
    yield ["total", "", "", "feedbackWithoutCard", summary["feedbackWithoutCard"]]
    for h in summary["hooks"]:
        yield ["hook", h["hook"], "", "calls", h["calls"]]
        yield ["hook", h["hook"], "", "errors", h["errors"]]
        for p in _LATENCY:
            yield ["hook", h["hook"], "", f"{p}_ms", h["latencyMs"][p]]
        for kind, count in h.get("errorKinds", {}).items():
            yield ["hook", h["hook"], kind, "errorKind", count]
    for i in summary["indicators"]:
        for k in _OUTCOMES:
            yield ["indicator", i["indicator"], "", k, i[k]]
    for r in summary["rules"]:
        for k in _OUTCOMES:
            yield ["rule", r["rule"], "", k, r[k]]
        for s in r["suggestions"]:
            yield ["rule-suggestion", r["rule"], s["suggestion"], "offered", s["offered"]]
            yield ["rule-suggestion", r["rule"], s["suggestion"], "accepted", s["accepted"]]
        for o in r["overrideReasons"]:
            yield ["rule-override-reason", r["rule"], o["reason"], "count", o["count"]]
    for s in summary["suggestions"]:
        yield ["suggestion", s["suggestion"], "", "offered", s["offered"]]
        yield ["suggestion", s["suggestion"], "", "accepted", s["accepted"]]
    for o in summary["overrideReasons"]:
        yield ["override-reason", o["reason"], _display(o), "count", o["count"]]


def _render_csv(summary: Summary) -> str:
    out = io.StringIO()
    writer = _csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "item", "metric", "value"])
    writer.writerows(_csv_rows(summary))
    return out.getvalue()
