"""Governance analytics: what Radix said, per rule and indicator, and what clinicians did with it.

Counting rules (the report and ``GET /analytics/summary`` share them):

- The window selects hook calls by ``received_at``: ``start`` inclusive, ``end`` exclusive.
- A card is counted once per distinct card uuid and client among those calls (an EHR retrying
  a hook instance gets the same deterministic uuids back); a card without uuid counts each time.
  The client is the JWT ``iss`` and ``tenant`` of the call (both none with authentication off).
- A card's outcome is its latest feedback by ``outcomeTimestamp`` (ties: the later received),
  whenever that feedback arrived, among the feedback **from the client the card was answered
  to**: the same uuid from another client (or from none) is feedback without a card, so one
  client can never change the outcome of a card shown to another. A card with none is "no
  response". So for every rule and indicator, shown = accepted + overridden + no response.
- A card counts under each of its rule ids; a card without any under ``unattributed``.
- Suggestions are named by label when the audit record carried them, otherwise by id; offered
  counts cards offering the suggestion, accepted counts accepted cards that chose it.
- Override reasons count overridden cards by coded reason (``system|code``); an override with
  only a comment, or with no reason, counts as ``uncoded``.
- Latency percentiles are nearest-rank over every call of the hook in the window.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cds_service.store.schema import audit_card, audit_event, feedback

_INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}
UNATTRIBUTED = "unattributed"
UNCODED = "uncoded"

#: Who a card was answered to, or who sent a feedback item: JWT ``iss`` and ``tenant``.
Client = tuple[str | None, str | None]
NO_CLIENT: Client = (None, None)
#: An override reason's key: (``system|code`` or ``uncoded``, system, code).
_ReasonKey = tuple[str, str | None, str | None]
#: What became of a card: its latest feedback's outcome, or none.
Column = Literal["accepted", "overridden", "noResponse"]


# --- The summary, as ``GET /analytics/summary`` sends it and ``cds-service report`` reads it ---


class Tally(TypedDict):
    """Cards shown = accepted + overridden + no response."""

    shown: int
    accepted: int
    overridden: int
    noResponse: int


class SuggestionCount(TypedDict):
    suggestion: str  # its label, or its id when the audit record had no label
    offered: int
    accepted: int


class ReasonCoding(TypedDict, total=False):
    """An override reason's coding, each part left out when the feedback had none."""

    system: str
    code: str
    display: str


class ReasonCount(ReasonCoding):
    reason: str  # ``system|code``, or ``uncoded``
    count: int


class RuleSummary(Tally):
    rule: str
    suggestions: list[SuggestionCount]
    overrideReasons: list[ReasonCount]


class IndicatorSummary(Tally):
    indicator: str


class Latency(TypedDict):
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


class HookSummary(TypedDict):
    hook: str
    calls: int
    errors: int
    latencyMs: Latency
    errorKinds: NotRequired[dict[str, int]]


class Counts(TypedDict):
    """What ``summarise`` counts."""

    hookCalls: int
    hooks: list[HookSummary]
    cards: Tally
    rules: list[RuleSummary]
    indicators: list[IndicatorSummary]
    suggestions: list[SuggestionCount]
    overrideReasons: list[ReasonCount]


#: The window asked for; ``from`` is not an identifier, hence this spelling.
Window = TypedDict("Window", {"from": str, "to": str}, total=False)


class Summary(Window, Counts):
    feedbackWithoutCard: int


@dataclass(frozen=True)
class Call:
    hook: str
    latency_ms: float
    status_code: int
    error_kind: str | None


@dataclass(frozen=True)
class ShownCard:
    uuid: str
    indicator: str
    rules: tuple[str, ...]
    suggestions: tuple[tuple[str, str], ...]  # (uuid, label)
    client: Client = NO_CLIENT


@dataclass(frozen=True)
class Outcome:
    card_uuid: str
    outcome: Literal["accepted", "overridden"]
    accepted: tuple[str, ...]
    reason_system: str | None
    reason_code: str | None
    reason_display: str | None
    outcome_at: datetime
    row_id: int
    client: Client = NO_CLIENT


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty sequence."""
    # p * n first: p / 100 * n is inexact (0.9 * 100 > 90) and would skip a rank.
    rank = max(1, math.ceil(p * len(sorted_values) / 100))
    return sorted_values[rank - 1]


def _window(column: Any, start: datetime | None, end: datetime | None) -> Any:
    clauses = []
    if start is not None:
        clauses.append(column >= start)
    if end is not None:
        clauses.append(column < end)
    return and_(*clauses) if clauses else None


async def summary(conn: AsyncConnection, start: datetime | None, end: datetime | None) -> Summary:
    """Read the window's calls, cards and their feedback, and summarise them."""
    in_window = _window(audit_event.c.received_at, start, end)

    calls_q = select(
        audit_event.c.hook,
        audit_event.c.latency_ms,
        audit_event.c.status_code,
        audit_event.c.error_kind,
    )
    cards_q = (
        select(
            audit_card.c.uuid,
            audit_card.c.indicator,
            audit_card.c.rules,
            audit_card.c.suggestions,
            audit_event.c.issuer,
            audit_event.c.tenant,
        )
        .join(audit_event, audit_card.c.event_id == audit_event.c.id)
        .order_by(audit_card.c.id)
    )
    uuids_q = select(audit_card.c.uuid).join(audit_event, audit_card.c.event_id == audit_event.c.id)
    if in_window is not None:
        calls_q = calls_q.where(in_window)
        cards_q = cards_q.where(in_window)
        uuids_q = uuids_q.where(in_window)
    feedback_q = select(
        feedback.c.card_uuid,
        feedback.c.outcome,
        feedback.c.accepted_suggestions,
        feedback.c.reason_system,
        feedback.c.reason_code,
        feedback.c.reason_display,
        feedback.c.outcome_at,
        feedback.c.id,
        feedback.c.issuer,
        feedback.c.tenant,
    ).where(feedback.c.card_uuid.in_(uuids_q))

    # NULL matches NULL: calls and feedback made with authentication off belong together.
    answered_to_sender = exists().where(
        audit_card.c.event_id == audit_event.c.id,
        audit_card.c.uuid == feedback.c.card_uuid,
        audit_event.c.issuer.is_not_distinct_from(feedback.c.issuer),
        audit_event.c.tenant.is_not_distinct_from(feedback.c.tenant),
    )
    orphans_q = select(func.count()).select_from(feedback).where(~answered_to_sender)
    orphan_window = _window(feedback.c.outcome_at, start, end)
    if orphan_window is not None:
        orphans_q = orphans_q.where(orphan_window)

    calls = [Call(*row) for row in await conn.execute(calls_q)]
    cards = [
        ShownCard(
            uuid=uuid,
            indicator=indicator,
            rules=tuple(rules or ()),
            suggestions=tuple((s["uuid"], s.get("label") or s["uuid"]) for s in sugg or ()),
            client=(issuer, tenant),
        )
        for uuid, indicator, rules, sugg, issuer, tenant in await conn.execute(cards_q)
    ]
    outcomes = [
        Outcome(
            row.card_uuid,
            row.outcome,
            tuple(row.accepted_suggestions or ()),
            row.reason_system,
            row.reason_code,
            row.reason_display,
            row.outcome_at,
            row.id,
            (row.issuer, row.tenant),
        )
        for row in await conn.execute(feedback_q)
    ]
    orphans = (await conn.execute(orphans_q)).scalar_one()
    window: Window = {}
    if start is not None:
        window["from"] = start.isoformat()
    if end is not None:
        window["to"] = end.isoformat()
    return {**window, **summarise(calls, cards, outcomes), "feedbackWithoutCard": orphans}


def summarise(
    calls: Iterable[Call], cards: Iterable[ShownCard], outcomes: Iterable[Outcome]
) -> Counts:
    """The analytics of a window from its calls, the cards they showed and those cards' feedback."""
    calls = list(calls)
    latest = _latest_outcomes(outcomes)
    distinct: dict[tuple[Client, str], ShownCard] = {}
    for n, card in enumerate(cards):
        # A card without uuid cannot be answered, but it was shown.
        distinct.setdefault((card.client, card.uuid or f"#{n}"), card)

    totals = _tally()
    by_rule: dict[str, _RuleCounts] = defaultdict(_RuleCounts)
    by_indicator: dict[str, Tally] = defaultdict(_tally)
    suggestions: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[_ReasonKey] = Counter()
    reason_display: dict[_ReasonKey, str] = {}

    for card in distinct.values():
        outcome = latest.get((card.client, card.uuid))
        column = _column(outcome)
        _count(totals, column)
        _count(by_indicator[card.indicator], column)
        labels = {uuid: label or uuid for uuid, label in card.suggestions}
        offered = set(labels.values())
        chosen = (
            {labels.get(i, i) for i in outcome.accepted}
            if outcome is not None and outcome.outcome == "accepted"
            else set()
        )
        reason = _reason_key(outcome) if column == "overridden" and outcome else None
        if reason is not None and outcome is not None and outcome.reason_display:
            reason_display.setdefault(reason, outcome.reason_display)
        _count_suggestions(suggestions, offered, chosen)
        if reason is not None:
            reasons[reason] += 1
        for rule in card.rules or (UNATTRIBUTED,):
            _count(by_rule[rule].tally, column)
            _count_suggestions(by_rule[rule].suggestions, offered, chosen)
            if reason is not None:
                by_rule[rule].reasons[reason] += 1

    return {
        "hookCalls": len(calls),
        "hooks": _hooks(calls),
        "cards": totals,
        "rules": [
            {
                "rule": rule,
                **entry.tally,
                "suggestions": _suggestion_list(entry.suggestions),
                "overrideReasons": _reason_list(entry.reasons, reason_display),
            }
            for rule, entry in sorted(by_rule.items())
        ],
        "indicators": [
            {"indicator": indicator, **tally}
            for indicator, tally in sorted(
                by_indicator.items(), key=lambda kv: (_INDICATOR_ORDER.get(kv[0], 9), kv[0])
            )
        ],
        "suggestions": _suggestion_list(suggestions),
        "overrideReasons": _reason_list(reasons, reason_display),
    }


def _tally() -> Tally:
    return {"shown": 0, "accepted": 0, "overridden": 0, "noResponse": 0}


def _count(tally: Tally, column: Column) -> None:
    tally["shown"] += 1
    tally[column] += 1


@dataclass
class _RuleCounts:
    """What one rule's cards came to, while counting."""

    tally: Tally = field(default_factory=_tally)
    suggestions: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    reasons: Counter[_ReasonKey] = field(default_factory=Counter)


def _count_suggestions(
    counters: dict[str, Counter[str]], offered: set[str], chosen: set[str]
) -> None:
    for label in offered:
        counters[label]["offered"] += 1
    for label in chosen:
        counters[label]["accepted"] += 1


def _column(outcome: Outcome | None) -> Column:
    return "noResponse" if outcome is None else outcome.outcome


def _latest_outcomes(outcomes: Iterable[Outcome]) -> dict[tuple[Client, str], Outcome]:
    """Each (client, card uuid)'s latest outcome: feedback counts only for its own client."""
    latest: dict[tuple[Client, str], Outcome] = {}
    for o in outcomes:
        key = (o.client, o.card_uuid)
        seen = latest.get(key)
        if seen is None or (o.outcome_at, o.row_id) > (seen.outcome_at, seen.row_id):
            latest[key] = o
    return latest


def _reason_key(outcome: Outcome) -> _ReasonKey:
    if outcome.reason_code is None:
        return (UNCODED, None, None)
    return (
        f"{outcome.reason_system}|{outcome.reason_code}",
        outcome.reason_system,
        outcome.reason_code,
    )


def _suggestion_list(counters: dict[str, Counter[str]]) -> list[SuggestionCount]:
    return [
        {"suggestion": label, "offered": c["offered"], "accepted": c["accepted"]}
        for label, c in sorted(counters.items())
    ]


def _reason_list(reasons: Counter[_ReasonKey], display: dict[_ReasonKey, str]) -> list[ReasonCount]:
    entries: list[ReasonCount] = []
    for key, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0][0])):
        coding: ReasonCoding = {}
        if key[1] is not None:
            coding["system"] = key[1]
        if key[2] is not None:
            coding["code"] = key[2]
        if key in display:
            coding["display"] = display[key]
        entries.append({"reason": key[0], **coding, "count": count})
    return entries


def _hooks(calls: list[Call]) -> list[HookSummary]:
    by_hook: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_hook[call.hook].append(call)
    entries = []
    for hook, hook_calls in sorted(by_hook.items()):
        latencies = sorted(c.latency_ms for c in hook_calls)
        entry: HookSummary = {
            "hook": hook,
            "calls": len(hook_calls),
            "errors": sum(1 for c in hook_calls if c.status_code >= 400),
            "latencyMs": {
                "p50": percentile(latencies, 50),
                "p90": percentile(latencies, 90),
                "p95": percentile(latencies, 95),
                "p99": percentile(latencies, 99),
                "max": latencies[-1],
            },
        }
        kinds = Counter(c.error_kind for c in hook_calls if c.error_kind)
        if kinds:
            entry["errorKinds"] = dict(sorted(kinds.items()))
        entries.append(entry)
    return entries
