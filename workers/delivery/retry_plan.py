"""What happens after a delivery attempt: delivered, retried later, given up, or the subscription disabled."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from contracts.retry_after import parse_retry_after
from service.state.deliveries import DELIVERED, FAILED, PENDING
from workers.delivery.webhook_sender import AttemptResult

#: ±20% jitter on every scheduled retry, so that retries of a burst do not arrive as a burst.
JITTER = 0.2
#: The longest `Retry-After` honoured; beyond it the subscriber is treated as down for a day.
MAX_RETRY_AFTER_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Plan:
    status: str
    next_due_ms: int | None = None
    disable: bool = False


def plan_next(result: AttemptResult, tries_before: int, schedule: tuple[int, ...], now: datetime) -> Plan:
    """`tries_before`: attempts already made this round, so this attempt was number `tries_before + 1`."""
    if result.succeeded:
        return Plan(DELIVERED)
    if result.status_code == 410:
        return Plan(FAILED, disable=True)
    if tries_before >= len(schedule):
        return Plan(FAILED)
    delay = schedule[tries_before] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter
    asked = parse_retry_after(result.retry_after, now)
    if asked is not None:
        delay = max(delay, min(asked, MAX_RETRY_AFTER_S))
    return Plan(PENDING, int(now.timestamp() * 1000 + delay * 1000))
