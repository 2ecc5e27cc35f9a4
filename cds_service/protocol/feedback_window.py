"""How far from now a feedback item's ``outcomeTimestamp`` may be.

A card's outcome in the analytics is its latest feedback by ``outcomeTimestamp``. An instant far
in the future would pin that outcome against every later answer, and one centuries back is no
clinician's answer to a card Radix showed; both are refused (400) rather than stored. The window
is ``RADIX_FEEDBACK_MAX_PAST_DAYS`` back and ``RADIX_FEEDBACK_MAX_FUTURE_HOURS`` ahead of the
service's clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cds_service.errors import OutcomeTimeOutOfRange


@dataclass(frozen=True)
class OutcomeWindow:
    """The accepted range of ``outcomeTimestamp`` around now."""

    max_past: timedelta
    max_future: timedelta

    def check(self, items: Iterable[dict[str, Any]], now: datetime) -> None:
        """A 400 naming the first item whose ``outcomeTimestamp`` is outside the window.

        ``items`` are schema-valid (their timestamps parse as RFC 3339 instants).
        """
        earliest, latest = now - self.max_past, now + self.max_future
        for index, item in enumerate(items):
            text = str(item["outcomeTimestamp"])
            at = datetime.fromisoformat(text.upper()).astimezone(UTC)
            if at > latest:
                problem = f"is more than {_span(self.max_future)} after now"
            elif at < earliest:
                problem = f"is more than {_span(self.max_past)} before now"
            else:
                continue
            raise OutcomeTimeOutOfRange(
                f"feedback[{index}].outcomeTimestamp {text[:40]!r} {problem}; an outcome is "
                "reported when it happens."
            )


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} hours"
