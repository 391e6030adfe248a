"""Per-account sync state in Redis, as `GET /accounts` shows it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from contracts.accounts import Account
from contracts.operational import sync_failing, sync_recovered
from contracts.times import format_time, parse_time
from service.state.eventlog import EventLog
from service.state.keys import account_state, snapshots
from service.state.per_minute import SYNCS, PerMinute
from service.state.redis_types import awaited, text

OK = "ok"
AUTH_FAILED = "auth_failed"
ERROR = "error"


@dataclass(frozen=True, slots=True)
class SyncReport:
    status: str
    finished_at: datetime
    error: str | None = None
    records: int = 0
    skipped: int = 0
    events: int = 0
    #: True when the whole listing was read: only then is an initial baseline complete.
    complete: bool = False
    #: The kind of read: "full" (the provider's list) or "narrow" (just the invoices callbacks named).
    read: str = "full"


#: Consecutive `error` syncs after which an account is reported failing (`auth_failed` is at once).
FAILING_AFTER_ERRORS = 3


def starts_failing(status: str, consecutive_failures: int) -> bool:
    return status == AUTH_FAILED or (status == ERROR and consecutive_failures >= FAILING_AFTER_ERRORS)


class AccountStates:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._log = EventLog(redis)
        self._per_minute = PerMinute(redis)

    async def baseline_done(self, account: str) -> bool:
        return bool(await awaited(self._redis.hexists(account_state(account), "baseline_done")))

    async def record(self, account: str, report: SyncReport) -> int:
        """Store the outcome; returns the number of consecutive failed syncs (0 after a success).

        The account starts failing with its first `auth_failed` sync or its FAILING_AFTER_ERRORS-th `error` in a
        row, and recovers with its next `ok` one: each turn logs its operational event in the same transaction
        as the state that records it. Syncs of one account never overlap (its lease), so reading the streak's
        start first is safe.
        """
        key = account_state(account)
        stored_since, stored_failures = await awaited(self._redis.hmget(key, ["failing_since", "failures"]))
        failing_since = text(stored_since or b"")
        fields = {
            "last_sync_at": format_time(report.finished_at),
            "last_sync_status": report.status,
            "last_error": report.error or "",
            "last_records": report.records,
            "last_skipped": report.skipped,
            "last_events": report.events,
            "last_read": report.read,
        }
        failures = 0 if report.status == OK else int(stored_failures or 0) + 1
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.hincrby(key, "skipped_total", report.skipped)
            pipe.hset(key, "failures", str(failures))
            if report.status == OK and report.complete:
                pipe.hset(key, "baseline_done", "1")
            if report.status == OK and failing_since:
                pipe.hdel(key, "failing_since")
                event = sync_recovered(account=account, failing_since=parse_time(failing_since), at=report.finished_at)
                await self._log.queue_operational(pipe, event)
            elif not failing_since and starts_failing(report.status, failures):
                pipe.hset(key, "failing_since", format_time(report.finished_at))
                event = sync_failing(
                    account=account, status=report.status, error=report.error, since=report.finished_at
                )
                await self._log.queue_operational(pipe, event)
            await self._per_minute.queue(pipe, SYNCS)
            await pipe.execute()
        return failures

    async def describe(self, accounts: Iterable[Account]) -> list[dict[str, Any]]:
        """The `GET /accounts` rows, one round trip for all accounts."""
        listed = list(accounts)
        async with self._redis.pipeline(transaction=False) as pipe:
            for account in listed:
                pipe.hgetall(account_state(account.name))
                pipe.hlen(snapshots(account.name))
            replies = await pipe.execute()
        rows = []
        for index, account in enumerate(listed):
            state = {text(k): text(v) for k, v in replies[2 * index].items()}
            rows.append(
                {
                    "name": account.name,
                    "provider": account.provider,
                    "last_sync_at": state.get("last_sync_at") or None,
                    "last_sync_status": state.get("last_sync_status") or None,
                    "last_error": state.get("last_error") or None,
                    "invoices": int(replies[2 * index + 1]),
                    "skipped_records": int(state.get("skipped_total", 0)),
                    "poll_interval": account.poll_interval,
                    "last_read": state.get("last_read") or None,
                }
            )
        return rows
