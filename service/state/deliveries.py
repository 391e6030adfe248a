"""Deliveries in Redis: one queue, one record and one ordering entry per (subscription, event).

- Fan-out creates a delivery once (HSETNX on its record), so an event fanned out twice after a crash is
  still one delivery.
- A lane claims due deliveries by pushing their due time to the end of a lease, atomically: if the worker
  dies mid-attempt, the delivery comes due again when the lease ends and is sent again, with the same
  `webhook-id`. That is the at-least-once guarantee.
- An attempt's outcome appends to the record and either removes the delivery from the queue (delivered,
  failed) or sets its next due time (retry).
- Beside the queue, for what `/metrics` shows per subscription: when each pending delivery was created (its
  age), and counters of attempts by outcome and of deliveries that ended failed, kept by the same scripts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from service.state.keys import (
    DELIVERIES_DUE,
    SUBSCRIPTIONS,
    delivery_order,
    delivery_pending_since,
    delivery_queue,
    delivery_records,
    delivery_stats,
)
from service.state.redis_types import awaited, text

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
STATUSES = (PENDING, DELIVERED, FAILED)
#: Attempts kept per delivery record (a replayed delivery keeps adding to its history).
MAX_ATTEMPTS_KEPT = 50

# Whether a subscription exists and is enabled, as stored: a worker's cached copy may be a moment old, and
# a delivery created for a subscription just disabled or deleted would stay pending forever.
_ENABLED = """
local function enabled(subscriptions, sub)
  local raw = redis.call('HGET', subscriptions, sub)
  return raw ~= false and cjson.decode(raw).enabled == true
end
"""

# Keeps a subscription's entry in the due index (`keys.DELIVERIES_DUE`) at its queue's earliest due time:
# called by every script that may raise that time; one that can only lower it uses ZADD LT.
_REINDEX = """
local function reindex(index, queue, sub)
  local first = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
  if first[2] then redis.call('ZADD', index, first[2], sub) else redis.call('ZREM', index, sub) end
end
"""

# KEYS: subscriptions hash, due index, then (records, queue, order, pending-since) of each subscription in ARGV
# order.
# ARGV: now_ms, then per subscription: its id, the number of events, the event ids.
# Returns the subscription ids that got work.
_FANOUT = (
    _ENABLED
    + """
local touched = {}
local now = ARGV[1]
local i, k = 2, 3
while i <= #ARGV do
  local sub, count = ARGV[i], tonumber(ARGV[i + 1])
  local records, queue, order, since = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  if enabled(KEYS[1], sub) then
    for j = i + 2, i + 1 + count do
      local event = ARGV[j]
      if redis.call('HSETNX', records, event, '{"status":"pending","attempts":[]}') == 1 then
        redis.call('ZADD', queue, now, event)
        redis.call('ZADD', order, now, event)
        redis.call('ZADD', since, now, event)
        touched[sub] = true
      end
    end
  end
  i = i + 2 + count
  k = k + 4
end
local out = {}
for sub in pairs(touched) do
  redis.call('ZADD', KEYS[2], 'LT', now, sub)
  table.insert(out, sub)
end
return out
"""
)

# KEYS: queue, records, due index. ARGV: now_ms, lease_end_ms, limit, subscription id.
# Returns pairs (event id, tries this round).
_CLAIM = (
    _REINDEX
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, event in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], event)
  local record = redis.call('HGET', KEYS[2], event)
  local tries = 0
  if record then tries = cjson.decode(record).tries or 0 end
  table.insert(out, event)
  table.insert(out, tries)
end
if #due > 0 then reindex(KEYS[3], KEYS[1], ARGV[4]) end
return out
"""
)

# KEYS: queue, records, subscriptions hash, due index, pending-since, stats. ARGV: attempts kept, subscription
# id, then groups of (event id, status, next due ms or '', attempt JSON). A retry for a subscription disabled
# meanwhile is recorded as failed, never queued again: its lane is gone.
_RECORD = (
    _ENABLED
    + _REINDEX
    + """
local keep = tonumber(ARGV[1])
local live = enabled(KEYS[3], ARGV[2])
for i = 3, #ARGV, 4 do
  local event, status, next_due, attempt = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if not live and status == 'pending' then status = 'failed'; next_due = '' end
  local raw = redis.call('HGET', KEYS[2], event)
  if raw then
    local record = cjson.decode(raw)
    local attempts = record.attempts
    if type(attempts) ~= 'table' then attempts = {} end
    table.insert(attempts, cjson.decode(attempt))
    while #attempts > keep do table.remove(attempts, 1) end
    record.attempts = attempts
    record.status = status
    record.tries = (record.tries or 0) + 1
    redis.call('HSET', KEYS[2], event, cjson.encode(record))
    if next_due == '' then
      redis.call('ZREM', KEYS[1], event)
      redis.call('ZREM', KEYS[5], event)
    else
      redis.call('ZADD', KEYS[1], next_due, event)
    end
    redis.call('HINCRBY', KEYS[6], 'attempts:' .. (status == 'pending' and 'retry' or status), 1)
    if status == 'failed' then redis.call('HINCRBY', KEYS[6], 'dead_lettered', 1) end
  end
end
reindex(KEYS[4], KEYS[1], ARGV[2])
return 1
"""
)

# KEYS: queue, records, due index, pending-since, stats. ARGV: subscription id. Every queued delivery becomes
# failed (the subscription is disabled).
_FAIL_ALL = """
local queued = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, event in ipairs(queued) do
  local raw = redis.call('HGET', KEYS[2], event)
  if raw then
    local record = cjson.decode(raw)
    record.status = 'failed'
    if type(record.attempts) ~= 'table' or next(record.attempts) == nil then record.attempts = {} end
    redis.call('HSET', KEYS[2], event, cjson.encode(record))
  end
end
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('ZREM', KEYS[3], ARGV[1])
if #queued > 0 then redis.call('HINCRBY', KEYS[5], 'dead_lettered', #queued) end
return #queued
"""

# KEYS: queue, records, order, subscriptions hash, due index, pending-since.
# ARGV: subscription id, now_ms, event ids. Queues each again as pending, history kept.
_REQUEUE = (
    _ENABLED
    + """
if not enabled(KEYS[4], ARGV[1]) then return 0 end
for i = 3, #ARGV do
  local event = ARGV[i]
  local raw = redis.call('HGET', KEYS[2], event)
  local record = {status = 'pending', attempts = {}}
  if raw then record = cjson.decode(raw); record.status = 'pending' end
  record.tries = 0
  redis.call('HSET', KEYS[2], event, cjson.encode(record))
  redis.call('ZADD', KEYS[1], ARGV[2], event)
  redis.call('ZADD', KEYS[3], ARGV[2], event)
  redis.call('ZADD', KEYS[6], ARGV[2], event)
end
if #ARGV > 2 then redis.call('ZADD', KEYS[5], 'LT', ARGV[2], ARGV[1]) end
return #ARGV - 2
"""
)


#: The outcomes of an attempt as the per-subscription counters name them.
ATTEMPT_RESULTS = (DELIVERED, "retry", FAILED)


@dataclass(frozen=True, slots=True)
class SubscriptionFigures:
    subscription_id: str
    #: Deliveries waiting: due, in flight, or waiting for a retry.
    pending: int
    #: Of those, the ones due now (in flight included: a claim pushes the due time to the end of its lease).
    due: int
    #: When the oldest pending delivery was created or replayed (unix ms); None when nothing is pending.
    oldest_pending_ms: int | None
    #: Attempts by outcome (ATTEMPT_RESULTS), since the subscription was created.
    attempts: dict[str, int]
    #: Deliveries that ended failed (retries exhausted, the subscription disabled, the event trimmed).
    dead_lettered: int


@dataclass(frozen=True, slots=True)
class Claimed:
    event_id: str
    #: Attempts since the delivery was created or last replayed: the position in the retry schedule.
    tries: int


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: str
    status: str
    next_due_ms: int | None
    attempt: dict[str, Any]


def _record(raw: Any) -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(raw)
    # Lua's cjson writes an empty list as {}.
    if not isinstance(record.get("attempts"), list):
        record["attempts"] = []
    return record


def _subscription_figures(
    subscription_id: str, pending: Any, due: Any, oldest: Any, stats: dict[Any, Any]
) -> SubscriptionFigures:
    counters = {text(name): int(value) for name, value in stats.items()}
    return SubscriptionFigures(
        subscription_id=subscription_id,
        pending=int(pending),
        due=int(due),
        oldest_pending_ms=int(oldest[0][1]) if oldest else None,
        attempts={result: counters.get(f"attempts:{result}", 0) for result in ATTEMPT_RESULTS},
        dead_lettered=counters.get("dead_lettered", 0),
    )


class DeliveryStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._fanout = redis.register_script(_FANOUT)
        self._claim = redis.register_script(_CLAIM)
        self._record = redis.register_script(_RECORD)
        self._fail_all = redis.register_script(_FAIL_ALL)
        self._requeue = redis.register_script(_REQUEUE)

    async def fan_out(self, pairs: Sequence[tuple[str, str]], now_ms: int) -> list[str]:
        """Create the deliveries (subscription id, event id) that do not exist yet."""
        if not pairs:
            return []
        by_subscription: dict[str, list[str]] = {}
        for subscription_id, event_id in pairs:
            by_subscription.setdefault(subscription_id, []).append(event_id)
        keys = [SUBSCRIPTIONS, DELIVERIES_DUE]
        args: list[str | int] = [now_ms]
        for subscription_id, event_ids in by_subscription.items():
            keys += [
                delivery_records(subscription_id),
                delivery_queue(subscription_id),
                delivery_order(subscription_id),
                delivery_pending_since(subscription_id),
            ]
            args += [subscription_id, len(event_ids), *event_ids]
        touched = await self._fanout(keys=keys, args=args)
        return [text(item) for item in touched]

    async def claim(self, subscription_id: str, now_ms: int, lease_ms: int, limit: int) -> list[Claimed]:
        reply = await self._claim(
            keys=[delivery_queue(subscription_id), delivery_records(subscription_id), DELIVERIES_DUE],
            args=[now_ms, now_ms + lease_ms, limit, subscription_id],
        )
        return [Claimed(text(reply[i]), int(reply[i + 1])) for i in range(0, len(reply), 2)]

    async def due_subscriptions(self, now_ms: int) -> list[str]:
        """Subscriptions with a delivery due by `now_ms`: one read, however many subscriptions there are."""
        return [text(item) for item in await self._redis.zrangebyscore(DELIVERIES_DUE, "-inf", now_ms)]

    async def record(self, subscription_id: str, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        args: list[str | int | bytes] = [MAX_ATTEMPTS_KEPT, subscription_id]
        for outcome in outcomes:
            next_due = "" if outcome.next_due_ms is None else outcome.next_due_ms
            args += [outcome.event_id, outcome.status, next_due, orjson.dumps(outcome.attempt)]
        keys = [
            delivery_queue(subscription_id),
            delivery_records(subscription_id),
            SUBSCRIPTIONS,
            DELIVERIES_DUE,
            delivery_pending_since(subscription_id),
            delivery_stats(subscription_id),
        ]
        await self._record(keys=keys, args=args)

    async def fail_all(self, subscription_id: str) -> int:
        return int(
            await self._fail_all(
                keys=[
                    delivery_queue(subscription_id),
                    delivery_records(subscription_id),
                    DELIVERIES_DUE,
                    delivery_pending_since(subscription_id),
                    delivery_stats(subscription_id),
                ],
                args=[subscription_id],
            )
        )

    async def requeue(self, subscription_id: str, event_ids: Sequence[str], now_ms: int) -> int:
        if not event_ids:
            return 0
        keys = [
            delivery_queue(subscription_id),
            delivery_records(subscription_id),
            delivery_order(subscription_id),
            SUBSCRIPTIONS,
            DELIVERIES_DUE,
            delivery_pending_since(subscription_id),
        ]
        total = 0
        for start in range(0, len(event_ids), 500):
            batch = event_ids[start : start + 500]
            total += int(await self._requeue(keys=keys, args=[subscription_id, now_ms, *batch]))
        return total

    async def list(
        self, subscription_id: str, *, status: str | None, limit: int, scan_budget: int = 10_000
    ) -> list[dict[str, Any]]:
        """Deliveries newest first, optionally only those in `status`."""
        rows: list[dict[str, Any]] = []
        offset = 0
        while len(rows) < limit and offset < scan_budget:
            ids = await awaited(self._redis.zrevrange(delivery_order(subscription_id), offset, offset + 499))
            if not ids:
                break
            offset += len(ids)
            records = await awaited(self._redis.hmget(delivery_records(subscription_id), ids))
            for event_id, raw in zip(ids, records, strict=True):
                if raw is None:
                    continue
                record = _record(raw)
                if status is None or record.get("status") == status:
                    rows.append(
                        {"event_id": text(event_id), "status": record["status"], "attempts": record["attempts"]}
                    )
                    if len(rows) == limit:
                        break
        return rows

    async def queued(self, subscription_id: str) -> int:
        return int(await awaited(self._redis.zcard(delivery_queue(subscription_id))))

    async def figures(self, subscription_ids: Sequence[str], now_ms: int) -> tuple[SubscriptionFigures, ...]:
        """What `/metrics` shows of each subscription, in one round trip however many there are."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for subscription_id in subscription_ids:
                pipe.zcard(delivery_queue(subscription_id))
                pipe.zcount(delivery_queue(subscription_id), "-inf", now_ms)
                pipe.zrange(delivery_pending_since(subscription_id), 0, 0, withscores=True)
                pipe.hgetall(delivery_stats(subscription_id))
            replies = await pipe.execute()
        return tuple(
            _subscription_figures(subscription_id, *replies[4 * n : 4 * n + 4])
            for n, subscription_id in enumerate(subscription_ids)
        )

    async def forget(self, subscription_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(
                delivery_queue(subscription_id),
                delivery_records(subscription_id),
                delivery_order(subscription_id),
                delivery_pending_since(subscription_id),
                delivery_stats(subscription_id),
            )
            pipe.zrem(DELIVERIES_DUE, subscription_id)
            await pipe.execute()
