"""Which read a sync makes, and when the next full read is owed."""

from __future__ import annotations

import pytest

from contracts.accounts import Account
from service.state.sync_work import PendingWork
from workers.sync.planning import HINTED_FULL_READ_S, ReadKind, owed_full_read_ms, plan_read

NOW = 1_800_000_000_000
POLLED = Account(name="p", provider="cryptocloud", base_url="https://a.example", poll_interval=60, initial_sync="emit")
HINTED = Account(name="h", provider="cryptocloud", base_url="https://a.example", poll_interval=0, initial_sync="emit")
HINTS = {"INV-1": "1:a"}


def plan(account: Account, work: PendingWork, *, baseline_done: bool = True, narrow: bool = True) -> ReadKind:
    return plan_read(account, work, baseline_done=baseline_done, narrow_supported=narrow, now_ms=NOW)


def test_hints_are_read_narrowly_when_no_full_read_is_owed() -> None:
    work = PendingWork(hints=HINTS, last_full_ms=NOW - 1000)
    assert plan(POLLED, work) is ReadKind.NARROW
    assert plan(HINTED, work) is ReadKind.NARROW


def test_a_provider_without_narrow_reads_reads_the_list() -> None:
    assert plan(POLLED, PendingWork(hints=HINTS, last_full_ms=NOW - 1000), narrow=False) is ReadKind.FULL


@pytest.mark.parametrize(
    "work",
    [
        PendingWork(hints=HINTS, full_requested="1:b", last_full_ms=NOW - 1000),  # a trigger or a bare nudge
        PendingWork(hints=HINTS, last_full_ms=None),  # never read in full
        PendingWork(hints=HINTS, last_full_ms=NOW - 60_000),  # the poll is due
    ],
)
def test_a_full_read_when_one_is_owed(work: PendingWork) -> None:
    assert plan(POLLED, work) is ReadKind.FULL


def test_a_baseline_not_yet_complete_reads_the_list_first() -> None:
    baseline = Account(name="b", provider="cryptocloud", base_url="https://a.example", initial_sync="baseline")
    work = PendingWork(hints=HINTS, last_full_ms=NOW - 1000)
    assert plan(baseline, work, baseline_done=False) is ReadKind.FULL
    assert plan(baseline, work, baseline_done=True) is ReadKind.NARROW


def test_an_account_not_polled_reads_in_full_once_hinted_reads_have_gone_on_long_enough() -> None:
    since = NOW - HINTED_FULL_READ_S * 1000
    assert plan(HINTED, PendingWork(hints=HINTS, last_full_ms=since + 1, last_narrow_ms=NOW - 10)) is ReadKind.NARROW
    assert plan(HINTED, PendingWork(hints=HINTS, last_full_ms=since, last_narrow_ms=NOW - 10)) is ReadKind.FULL
    # No narrow read since the last full one: nothing owed, however long ago that was.
    assert plan(
        HINTED, PendingWork(hints=HINTS, last_full_ms=since - 9_999_999, last_narrow_ms=since - 10_000_000)
    ) is (ReadKind.NARROW)


def test_nothing_to_read_when_nothing_is_pending_or_owed() -> None:
    assert plan(POLLED, PendingWork(last_full_ms=NOW - 1000)) is ReadKind.NONE
    assert plan(HINTED, PendingWork(last_full_ms=NOW - 10_000_000)) is ReadKind.NONE


def test_when_the_next_full_read_is_owed() -> None:
    assert owed_full_read_ms(POLLED, NOW, None) == NOW + 60_000
    assert owed_full_read_ms(POLLED, None, None) == 0  # never read in full: at once
    assert owed_full_read_ms(HINTED, NOW, None) is None
    assert owed_full_read_ms(HINTED, NOW, NOW - 1) is None  # the narrow read came before the full one
    assert owed_full_read_ms(HINTED, NOW, NOW + 5) == NOW + HINTED_FULL_READ_S * 1000
