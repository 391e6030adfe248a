"""Which read a sync makes, and when the next full read is owed: pure decisions over what is pending.

- A full read (the provider's list) whenever one is owed: the account's first sync while a baseline is
  incomplete, a request for one (a trigger, a nudge without invoices), a scheduled poll, or, for an account
  that is not polled, a full read owed since hinted reads (within HINTED_FULL_READ_S), so that a change no
  callback names is still recorded.
- Otherwise a narrow read of the invoices callbacks named (the hints), where the provider offers one.
- Otherwise nothing: the account was due for nothing left to read (what it was due for was read already).
"""

from __future__ import annotations

from enum import StrEnum

from contracts.accounts import Account
from service.state.sync_work import PendingWork

#: For accounts with `poll_interval = 0`: a full read follows hinted reads within this long.
HINTED_FULL_READ_S = 300


class ReadKind(StrEnum):
    FULL = "full"
    NARROW = "narrow"
    NONE = "none"


def owed_full_read_ms(account: Account, last_full_ms: int | None, last_narrow_ms: int | None) -> int | None:
    """When the next full read is owed (unix ms; None: none is). A polled account owes one every
    `poll_interval`; one that is not polled owes one HINTED_FULL_READ_S after the last full read once a narrow
    read has come since."""
    if account.poll_interval:
        return 0 if last_full_ms is None else last_full_ms + account.poll_interval * 1000
    if last_narrow_ms is None or (last_full_ms is not None and last_narrow_ms <= last_full_ms):
        return None
    return 0 if last_full_ms is None else last_full_ms + HINTED_FULL_READ_S * 1000


def plan_read(
    account: Account, work: PendingWork, *, baseline_done: bool, narrow_supported: bool, now_ms: int
) -> ReadKind:
    if account.initial_sync == "baseline" and not baseline_done:
        return ReadKind.FULL
    if work.full_requested is not None or work.last_full_ms is None:
        return ReadKind.FULL
    owed = owed_full_read_ms(account, work.last_full_ms, work.last_narrow_ms)
    if owed is not None and owed <= now_ms:
        return ReadKind.FULL
    if work.hints:
        return ReadKind.NARROW if narrow_supported else ReadKind.FULL
    return ReadKind.NONE
