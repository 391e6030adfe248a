"""`next_due_ms`: when an account syncs next, from the outcome of the sync that just finished."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.accounts import Account
from service.state.account_state import AUTH_FAILED, ERROR, OK, SyncReport
from workers.sync.jobs import next_due_ms

NOW = 1_800_000_000_000
FINISHED_AT = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
#: Enough draws that a jitter band narrower or wider than ±20% shows with certainty for practical purposes:
#: the chance that none of them lands in the outer eighth of either side of the band is (7/8)**300 < 1e-17.
DRAWS = 300
#: A poll interval longer than every error backoff, so that it does not cap them.
HOURLY = 3600


def account(poll_interval: int) -> Account:
    return Account(
        name="shop", provider="cryptocloud", base_url="https://api.cryptocloud.plus", poll_interval=poll_interval
    )


#: What a provider answered for each outcome.
ERRORS = {OK: None, AUTH_FAILED: "HTTP 401", ERROR: "HTTP 503"}


def report(status: str) -> SyncReport:
    return SyncReport(status=status, finished_at=FINISHED_AT, error=ERRORS[status])


def delay_s(due: int | None) -> float:
    assert due is not None
    return (due - NOW) / 1000


def error_delays(poll_interval: int, failures: int, retry_after: float | None = None) -> list[float]:
    return [
        delay_s(next_due_ms(account(poll_interval), report(ERROR), failures, retry_after, NOW)) for _ in range(DRAWS)
    ]


def assert_jittered_around(delays: list[float], base_s: float) -> None:
    """Within ±20% of `base_s` (less the millisecond of truncation), and spread across that whole band."""
    assert min(delays) >= base_s * 0.8 - 0.001
    assert max(delays) <= base_s * 1.2
    assert min(delays) < base_s * 0.85
    assert max(delays) > base_s * 1.15


@pytest.mark.parametrize("poll_interval", [1, 60, 300, 86_400])
def test_a_successful_sync_polls_again_after_the_interval(poll_interval: int) -> None:
    assert next_due_ms(account(poll_interval), report(OK), 0, None, NOW) == NOW + poll_interval * 1000


def test_a_successful_sync_of_a_trigger_only_account_waits_for_the_next_trigger() -> None:
    assert next_due_ms(account(0), report(OK), 0, None, NOW) is None


@pytest.mark.parametrize(("poll_interval", "expected_s"), [(1, 600), (300, 600), (600, 600), (900, 900)])
def test_an_auth_failure_waits_at_least_ten_minutes(poll_interval: int, expected_s: int) -> None:
    assert next_due_ms(account(poll_interval), report(AUTH_FAILED), 3, None, NOW) == NOW + expected_s * 1000


def test_an_auth_failure_of_a_trigger_only_account_waits_for_the_next_trigger() -> None:
    assert next_due_ms(account(0), report(AUTH_FAILED), 1, None, NOW) is None


@pytest.mark.parametrize(
    ("failures", "base_s"),
    [(1, 5), (2, 10), (3, 20), (4, 40), (5, 80), (6, 160), (7, 300), (8, 300), (60, 300)],
)
def test_an_error_backs_off_from_5s_doubling_per_failure_up_to_300s(failures: int, base_s: float) -> None:
    assert_jittered_around(error_delays(HOURLY, failures), base_s)


@pytest.mark.parametrize("failures", [3, 7])
def test_an_error_never_waits_longer_than_the_poll_interval(failures: int) -> None:
    # 16 s at the least after three failures, 240 s after seven: both past the 15 s interval.
    assert set(error_delays(15, failures)) == {15.0}


def test_an_error_of_a_trigger_only_account_retries_on_its_own() -> None:
    assert_jittered_around(error_delays(0, 2), 10)


def test_an_error_with_a_retry_after_longer_than_the_backoff_waits_that_long() -> None:
    assert set(error_delays(HOURLY, 1, retry_after=1234.5)) == {1234.5}


def test_a_retry_after_outlasts_the_poll_interval() -> None:
    # The provider asked for two minutes: polling every 15 s would only be refused again.
    assert set(error_delays(15, 1, retry_after=120.0)) == {120.0}


@pytest.mark.parametrize("retry_after", [3601.0, 86_400.0, 1e12])
def test_a_retry_after_is_honoured_up_to_an_hour(retry_after: float) -> None:
    assert set(error_delays(HOURLY, 1, retry_after=retry_after)) == {3600.0}
    assert set(error_delays(0, 1, retry_after=retry_after)) == {3600.0}


@pytest.mark.parametrize("retry_after", [0.0, 1.0, 10.0])
def test_a_retry_after_shorter_than_the_backoff_does_not_shorten_it(retry_after: float) -> None:
    assert_jittered_around(error_delays(HOURLY, 3, retry_after=retry_after), 20)
