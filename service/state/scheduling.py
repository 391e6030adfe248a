"""When each account syncs: a Redis sorted set of due times plus one lease-holding lock per account.

Why not one arq job per trigger: `enqueue_job` costs about six round trips, and arq's job ids cannot say
"coalesce, but never drop a trigger that arrives while the sync runs": `enqueue_job` refuses a job id while
that job's result is kept, and a failed job's result is kept for the worker-wide `keep_result` (an hour by
default) whatever its function says. Instead:

- a trigger is one durable write, `ZADD relay:sync:due LT <now> <account>`: a burst of triggers for one
  account stays one entry (coalescing), and a scheduled poll further out is pulled forward;
- a worker claims a due account by taking its lock (SET NX PX) and pushing the due time to the end of
  its lease, atomically. A worker that dies mid-sync leaves that due time behind: when the lease runs
  out, the account is due again and another worker takes it over;
- a trigger during a sync lowers the due time below the lease end. When the sync finishes it sees that,
  keeps the account due, and the next claim starts another sync right after it. Otherwise the finish
  sets the next poll time (or removes the account when it only syncs on triggers).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from service.state.keys import (
    SYNC_DUE,
    SYNC_WAKE,
    account_state,
    per_minute,
    seen_callback,
    sync_hints,
    sync_lock,
    sync_traces,
)
from service.state.per_minute import CALLBACKS, COUNT_MINUTE
from service.state.redis_types import text

# KEYS: due set, then the lock of each candidate account. ARGV: now_ms, lease_ms, claim limit, token prefix,
# then the candidate accounts (in KEYS order). A candidate read before the script may have been claimed or
# rescheduled since: it is claimed only if it is still due and unlocked.
_CLAIM = """
local claimed = {}
for i = 5, #ARGV do
  if #claimed >= tonumber(ARGV[3]) * 2 then break end
  local account = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[1], account)
  if score and tonumber(score) <= tonumber(ARGV[1]) then
    local token = ARGV[4] .. ':' .. account
    if redis.call('SET', KEYS[i - 3], token, 'NX', 'PX', ARGV[2]) then
      redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), account)
      table.insert(claimed, account)
      table.insert(claimed, token)
    end
  end
end
return claimed
"""

_RENEW = """
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[4] then
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
end
return 1
"""

# ARGV[5]: the wake channel. A trigger that arrived during the sync left a due time below the lease end:
# the account stays due, and dispatchers are told.
_FINISH = """
local owned = redis.call('GET', KEYS[2]) == ARGV[2]
if owned then redis.call('DEL', KEYS[2]) end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score == ARGV[3] then
  if ARGV[4] == '' then redis.call('ZREM', KEYS[1], ARGV[1])
  else redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1]) end
elseif score then
  redis.call('PUBLISH', ARGV[5], ARGV[1])
end
return owned and 1 or 0
"""

_RELEASE = """
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
  redis.call('ZADD', KEYS[1], 'LT', ARGV[3], ARGV[1])
  redis.call('PUBLISH', ARGV[4], ARGV[1])
  return 1
end
return 0
"""

# What a request records beside the due time (used by `_REQUEST` and `_REQUEST_ONCE`): with invoices
# named, each as a hint; with none, a request for a full read. Either holds the request's stamp (its time
# and a nonce), so that a read taking it can tell a request that came after it (see
# `service.state.sync_work`). With tracing on, the traceparents of the callbacks that asked, for the sync that
# serves them (the latest 64 kept: a burst links to its last 64 callbacks).
_RECORD_REQUEST = """
local function record_request(due, hints, state, traces, account, at, stamp, first, count, first_trace, traced)
  redis.call('ZADD', due, 'LT', at, account)
  if count == 0 then
    redis.call('HSET', state, 'full_requested', stamp)
  else
    for j = first, first + count - 1 do redis.call('HSET', hints, ARGV[j], stamp) end
  end
  if traced > 0 then
    redis.call('RPUSH', traces, unpack(ARGV, first_trace, first_trace + traced - 1))
    redis.call('LTRIM', traces, -64, -1)
  end
end
"""

# KEYS: due set, callbacks per minute, then (hints, account state, traces) of each account in ARGV order. ARGV:
# wake channel, the number of callbacks the requests answer (counted for the console), then per account: due ms,
# account, stamp, number of invoices named, number of traceparents, the invoice ids, the traceparents. Each due
# time is lowered, never raised (a burst of triggers stays one entry; a scheduled poll is pulled forward), and
# dispatchers are told.
_REQUEST = (
    _RECORD_REQUEST
    + COUNT_MINUTE
    + """
count_minute(KEYS[2], tonumber(ARGV[2]))
local i, k = 3, 3
while i <= #ARGV do
  local count, traced = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  record_request(KEYS[1], KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[i + 1], ARGV[i], ARGV[i + 2], i + 5, count,
    i + 5 + count, traced)
  i = i + 5 + count + traced
  k = k + 3
end
redis.call('PUBLISH', ARGV[1], '')
return 1
"""
)

# KEYS: due set, seen marker, hints, account state, traces, callbacks per minute. ARGV: account, now_ms, marker
# ttl, wake channel, stamp, traceparent or '', then the invoice ids named. The request and the marker land
# together: a retry of a callback whose request failed is not mistaken for a replay (nor counted twice).
_REQUEST_ONCE = (
    _RECORD_REQUEST
    + COUNT_MINUTE
    + """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then
  count_minute(KEYS[6], 1)
  local traced = ARGV[6] ~= '' and 1 or 0
  record_request(KEYS[1], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[5], 7, #ARGV - 6, 6, traced)
  redis.call('PUBLISH', ARGV[4], ARGV[1])
  return 1
end
return 0
"""
)


def _nonce() -> str:
    """Unique enough to tell two requests of one millisecond apart (the stamp's other half)."""
    return secrets.token_hex(4)


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A request to sync `account` from `at_ms` on: of the invoices named, or of the whole account."""

    account: str
    at_ms: int
    invoice_ids: tuple[str, ...] = ()
    #: With tracing on, the traceparents of the callbacks that asked.
    traceparents: tuple[str, ...] = ()


#: Due accounts looked at per claim: accounts whose sync is running may be due again already (a trigger
#: arrived during the sync), and they must not hide the accounts behind them.
CLAIM_CANDIDATES = 200


def _score_text(value: int) -> str:
    """How Redis renders an integral score in ZSCORE replies, for exact comparison inside the scripts."""
    return str(value)


@dataclass(frozen=True, slots=True)
class Claim:
    """A worker's ownership of one account's sync until `lease_end_ms`, renewable."""

    account: str
    token: str
    lease_end_ms: int


class SyncSchedule:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._request = redis.register_script(_REQUEST)
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)
        self._finish = redis.register_script(_FINISH)
        self._release = redis.register_script(_RELEASE)
        self._request_once = redis.register_script(_REQUEST_ONCE)

    async def request(self, requests: Sequence[SyncRequest], callbacks: int = 0) -> None:
        """Record the requests and wake the dispatchers: one command, durable once Redis acknowledges it.
        `callbacks`: how many provider callbacks asked for them (0 for an operator's trigger)."""
        if not requests:
            return
        keys = [SYNC_DUE, per_minute(CALLBACKS)]
        args: list[str | int] = [SYNC_WAKE, callbacks]
        nonce = _nonce()
        for request in requests:
            keys += [sync_hints(request.account), account_state(request.account), sync_traces(request.account)]
            stamp = f"{request.at_ms}:{nonce}"
            args += [request.at_ms, request.account, stamp, len(request.invoice_ids), len(request.traceparents)]
            args += [*request.invoice_ids, *request.traceparents]
        await self._request(keys=keys, args=args)

    async def request_once(self, request: SyncRequest, notification_id: str, ttl_s: int) -> bool:
        """Record the request unless the provider's notification `notification_id` for this account was seen
        within `ttl_s`; False for a repeat (nothing recorded)."""
        account = request.account
        keys = [SYNC_DUE, seen_callback(account, notification_id), sync_hints(account), account_state(account)]
        keys += [sync_traces(account), per_minute(CALLBACKS)]
        stamp = f"{request.at_ms}:{_nonce()}"
        trace = request.traceparents[0] if request.traceparents else ""
        args: list[str | int] = [account, request.at_ms, ttl_s, SYNC_WAKE, stamp, trace, *request.invoice_ids]
        return bool(await self._request_once(keys=keys, args=args))

    async def schedule_missing(self, accounts: Sequence[str], at_ms: int) -> int:
        """Put each account on the schedule unless it is already there; how many were missing."""
        if not accounts:
            return 0
        return int(await self._redis.zadd(SYNC_DUE, dict.fromkeys(accounts, at_ms), nx=True))

    async def due_count(self, now_ms: int) -> int:
        """Accounts whose sync is due by `now_ms` (running syncs' accounts are due at their lease end)."""
        return int(await self._redis.zcount(SYNC_DUE, "-inf", now_ms))

    async def claim(self, now_ms: int, lease_ms: int, limit: int, token_prefix: str) -> list[Claim]:
        if limit <= 0:
            return []
        due = await self._redis.zrangebyscore(SYNC_DUE, "-inf", now_ms, start=0, num=CLAIM_CANDIDATES)
        if not due:
            return []
        candidates = [text(account) for account in due]
        reply = await self._claim(
            keys=[SYNC_DUE, *(sync_lock(account) for account in candidates)],
            args=[now_ms, lease_ms, limit, token_prefix, *candidates],
        )
        items = [text(item) for item in reply]
        return [Claim(items[i], items[i + 1], now_ms + lease_ms) for i in range(0, len(items), 2)]

    async def renew(self, claim: Claim, now_ms: int, lease_ms: int) -> Claim | None:
        """Extend the lease; None when the claim was lost (its lease ran out and another worker took it)."""
        new_end = now_ms + lease_ms
        owned = await self._renew(
            keys=[SYNC_DUE, sync_lock(claim.account)],
            args=[claim.account, claim.token, lease_ms, _score_text(claim.lease_end_ms), new_end],
        )
        return Claim(claim.account, claim.token, new_end) if owned else None

    async def finish(self, claim: Claim, next_due_ms: int | None) -> bool:
        """Release the account. Unless a trigger arrived meanwhile, schedule the next poll (or none)."""
        owned = await self._finish(
            keys=[SYNC_DUE, sync_lock(claim.account)],
            args=[
                claim.account,
                claim.token,
                _score_text(claim.lease_end_ms),
                "" if next_due_ms is None else next_due_ms,
                SYNC_WAKE,
            ],
        )
        return bool(owned)

    async def release(self, claim: Claim, now_ms: int) -> None:
        """Give the account back unfinished (shutdown): due again at once, for any worker."""
        await self._release(
            keys=[SYNC_DUE, sync_lock(claim.account)], args=[claim.account, claim.token, now_ms, SYNC_WAKE]
        )

    async def next_due_ms(self) -> int | None:
        """The earliest due time on the schedule (that account's sync may be running); None when empty."""
        first = await self._redis.zrange(SYNC_DUE, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    def wakeups(self) -> SyncWakeups:
        return SyncWakeups(self._redis)


class SyncWakeups:
    """What a dispatcher waits on between looks at the schedule: the notices published whenever an account is
    made due now (triggers, callbacks, a sync handed back or re-triggered while it ran)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pubsub: PubSub | None = None

    async def wait(self, timeout_s: float) -> None:
        """Return at the first notice, or after `timeout_s`; notices already waiting are all taken at once."""
        if self._pubsub is None:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(SYNC_WAKE)
            self._pubsub = pubsub
        try:
            notice = await self._pubsub.get_message(timeout=timeout_s)
            while notice is not None:
                notice = await self._pubsub.get_message(timeout=0)
        except (RedisError, OSError):
            await self.close()  # subscribed again, on a new connection, at the next wait
            raise

    async def close(self) -> None:
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
