"""Per-account sync state in Redis, as `GET /accounts` shows it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from contracts.accounts import Account
from contracts.times import format_time
from service.state.keys import account_state, snapshots
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


class AccountStates:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def baseline_done(self, account: str) -> bool:
        return bool(await awaited(self._redis.hexists(account_state(account), "baseline_done")))

    async def record(self, account: str, report: SyncReport) -> int:
        """Store the outcome; returns the number of consecutive failed syncs (0 after a success)."""
        key = account_state(account)
        fields = {
            "last_sync_at": format_time(report.finished_at),
            "last_sync_status": report.status,
            "last_error": report.error or "",
            "last_records": report.records,
            "last_skipped": report.skipped,
            "last_events": report.events,
            "last_read": report.read,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.hincrby(key, "skipped_total", report.skipped)
            if report.status == OK:
                pipe.hset(key, "failures", "0")
                if report.complete:
                    pipe.hset(key, "baseline_done", "1")
            else:
                pipe.hincrby(key, "failures", 1)
            results = await pipe.execute()
        return 0 if report.status == OK else int(results[-1])

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
