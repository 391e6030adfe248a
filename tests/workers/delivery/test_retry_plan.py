"""`plan_next`: what one delivery attempt's outcome means for the delivery, without Redis or HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from service.state.deliveries import DELIVERED, FAILED, PENDING
from workers.delivery.retry_plan import Plan, plan_next
from workers.delivery.webhook_sender import AttemptResult

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
#: Distinct delays, so that reading the wrong position of the schedule shows.
SCHEDULE = (5, 30, 300, 1800, 7200)
#: Enough draws that a jitter band narrower or wider than ±20% shows with certainty for practical purposes:
#: the chance that none of them lands in the outer eighth of either side of the band is (7/8)**300 < 1e-17.
DRAWS = 300
ONE_DAY_S = 86_400.0


def attempt(status_code: int | None, *, retry_after: str | None = None, error: str | None = None) -> AttemptResult:
    return AttemptResult(at=NOW, status_code=status_code, error=error, latency_ms=12.0, retry_after=retry_after)


def delay_s(plan: Plan) -> float:
    assert plan.status == PENDING
    assert plan.next_due_ms is not None
    return (plan.next_due_ms - NOW_MS) / 1000


@pytest.mark.parametrize("status_code", [200, 201, 204, 299])
def test_a_2xx_answer_is_delivered(status_code: int) -> None:
    assert plan_next(attempt(status_code), 0, SCHEDULE, NOW) == Plan(DELIVERED)


@pytest.mark.parametrize("tries_before", [0, len(SCHEDULE) - 1, len(SCHEDULE)])
def test_410_gone_fails_the_delivery_and_disables_the_subscription_whatever_the_tries_left(tries_before: int) -> None:
    assert plan_next(attempt(410), tries_before, SCHEDULE, NOW) == Plan(FAILED, disable=True)


@pytest.mark.parametrize("tries_before", range(len(SCHEDULE)))
def test_each_retry_waits_its_scheduled_delay_within_20_percent_jitter(tries_before: int) -> None:
    scheduled = SCHEDULE[tries_before]
    delays = [delay_s(plan_next(attempt(503), tries_before, SCHEDULE, NOW)) for _ in range(DRAWS)]
    # The lower bound allows for the due time being truncated to the millisecond.
    assert min(delays) >= scheduled * 0.8 - 0.001
    assert max(delays) <= scheduled * 1.2
    # The jitter spreads across the whole band, not just part of it.
    assert min(delays) < scheduled * 0.85
    assert max(delays) > scheduled * 1.15


def test_the_attempt_after_the_last_scheduled_retry_fails_without_disabling() -> None:
    assert plan_next(attempt(500), len(SCHEDULE), SCHEDULE, NOW) == Plan(FAILED)
    assert plan_next(attempt(None, error="timed out after 15s"), len(SCHEDULE), SCHEDULE, NOW) == Plan(FAILED)


def test_an_empty_schedule_gives_up_after_the_first_attempt() -> None:
    assert plan_next(attempt(500), 0, (), NOW) == Plan(FAILED)


@pytest.mark.parametrize("error", ["timed out after 15s", "connection refused"])
def test_a_timeout_or_connection_error_is_retried(error: str) -> None:
    plan = plan_next(attempt(None, error=error), 1, SCHEDULE, NOW)
    assert not plan.disable
    assert SCHEDULE[1] * 0.8 - 0.001 <= delay_s(plan) <= SCHEDULE[1] * 1.2


@pytest.mark.parametrize("status_code", [400, 404, 429, 500, 503])
def test_other_error_statuses_are_retried_without_disabling(status_code: int) -> None:
    plan = plan_next(attempt(status_code), 0, SCHEDULE, NOW)
    assert not plan.disable
    assert SCHEDULE[0] * 0.8 - 0.001 <= delay_s(plan) <= SCHEDULE[0] * 1.2


def test_a_retry_after_longer_than_the_schedule_wins() -> None:
    # 5 s scheduled, at most 6 s with jitter: the subscriber's 120 s is what counts.
    assert delay_s(plan_next(attempt(429, retry_after="120"), 0, SCHEDULE, NOW)) == 120.0


def test_a_retry_after_as_an_http_date_is_honoured() -> None:
    later = format_datetime(NOW + timedelta(hours=1), usegmt=True)
    assert delay_s(plan_next(attempt(503, retry_after=later), 0, SCHEDULE, NOW)) == 3600.0


@pytest.mark.parametrize("asked", ["86401", "999999999"])
def test_a_retry_after_is_capped_at_one_day(asked: str) -> None:
    assert delay_s(plan_next(attempt(503, retry_after=asked), 0, SCHEDULE, NOW)) == ONE_DAY_S


@pytest.mark.parametrize("asked", ["0", "1", "200", "not a number"])
def test_a_retry_after_shorter_than_the_schedule_does_not_shorten_it(asked: str) -> None:
    scheduled = SCHEDULE[2]  # 300 s: longer than every value asked here
    for _ in range(DRAWS):
        delay = delay_s(plan_next(attempt(429, retry_after=asked), 2, SCHEDULE, NOW))
        assert scheduled * 0.8 - 0.001 <= delay <= scheduled * 1.2


def test_a_retry_after_does_not_extend_a_finished_schedule() -> None:
    assert plan_next(attempt(429, retry_after="60"), len(SCHEDULE), SCHEDULE, NOW) == Plan(FAILED)
