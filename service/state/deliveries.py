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
- For a subscription with `ordering: invoice`, only one delivery of each invoice is in the queue as due or
  under way (its head, in `keys.delivery_heads`); the invoice's others wait in `keys.delivery_lines`, by
  sequence, and in the queue at +inf (never due). The script that records the head's last attempt (delivered
  or finally failed) makes the next one due, atomically. A worker killed mid-attempt leaves the head leased
  and its successors waiting: the head comes due again first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from contracts.operational import OperationalEvent
from service.state import per_minute as per_minute_kinds
from service.state.eventlog import APPEND_EVENT, EventLog, operational_fields, type_matches
from service.state.keys import (
    DELIVERIES_DUE,
    EVENT_INDEX,
    EVENTS,
    SUBSCRIPTIONS,
    delivery_heads,
    delivery_health,
    delivery_lines,
    delivery_order,
    delivery_pending_since,
    delivery_queue,
    delivery_rate,
    delivery_records,
    delivery_stats,
    per_minute,
)
from service.state.per_minute import COUNT_MINUTE
from service.state.redis_types import awaited, text

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
STATUSES = (PENDING, DELIVERED, FAILED)
#: What started a delivery's current round of attempts, as each attempt records it.
SCHEDULED = "scheduled"
REPLAY = "replay"
RECOVER = "recover"
#: Attempts kept per delivery record (a replayed delivery keeps adding to its history).
MAX_ATTEMPTS_KEPT = 50
#: A subscription's `rate_limit` lets this many seconds' worth of attempts (at least one) go at once after a
#: quiet spell: over any window of t seconds, at most rate * t plus that burst start.
RATE_BURST_S = 0.1

# Whether a subscription exists and is enabled, as stored: a worker's cached copy may be a moment old, and
# a delivery created for a subscription just disabled or deleted would stay pending forever.
_ENABLED = """
local function enabled(subscriptions, sub)
  local raw = redis.call('HGET', subscriptions, sub)
  return raw ~= false and cjson.decode(raw).enabled == true
end
"""

# Per-invoice order. `ordered` reads the stored subscription; `position` an event's invoice key and sequence
# from its log entry (nil for an event logged without them, or no longer in the log: it goes unordered).
# `wait` queues a delivery behind its invoice's head; `promote` makes the invoice's first waiting delivery
# its head, due at `now`, or, none waiting, leaves the invoice without one. Callers add first and promote
# after, so that a batch of one invoice's events goes in sequence order whatever the batch's order.
_ORDER = """
local function ordered(subscriptions, sub)
  local raw = redis.call('HGET', subscriptions, sub)
  return raw ~= false and cjson.decode(raw).ordering == 'invoice'
end

local function position(index, log, event)
  local entry = redis.call('HGET', index, event)
  if not entry then return nil end
  local rows = redis.call('XRANGE', log, entry, entry)
  if not rows[1] then return nil end
  local fields, invoice, sequence = rows[1][2], nil, nil
  for f = 1, #fields, 2 do
    if fields[f] == 'invoice' and fields[f + 1] ~= '' then invoice = fields[f + 1]
    elseif fields[f] == 'seq' then sequence = tonumber(fields[f + 1]) end
  end
  if invoice and sequence then return invoice, sequence end
  return nil
end

local function wait(queue, lines, event, invoice, sequence)
  redis.call('ZADD', lines, 0, invoice .. '\\0' .. string.format('%012d', sequence) .. '\\0' .. event)
  redis.call('ZADD', queue, '+inf', event)
end

local function promote(queue, heads, lines, invoice, now)
  local first = redis.call('ZRANGEBYLEX', lines, '[' .. invoice .. '\\0', '(' .. invoice .. '\\1', 'LIMIT', 0, 1)[1]
  if first then
    local event = string.sub(first, #invoice + 15)
    redis.call('ZREM', lines, first)
    redis.call('HSET', heads, invoice, event)
    redis.call('ZADD', queue, now, event)
  else
    redis.call('HDEL', heads, invoice)
  end
end

local function clock_ms()
  local clock = redis.call('TIME')
  return tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
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

# KEYS: subscriptions hash, due index, event index, event log, then (records, queue, order, pending-since,
# heads, lines) of each subscription in ARGV order. ARGV: now_ms, then per subscription: its id, the number of events, the
# event ids. Returns the subscription ids that got work.
_FANOUT = (
    _ENABLED
    + _ORDER
    + """
local touched = {}
local now = ARGV[1]
local positions = {}
local i, k = 2, 5
while i <= #ARGV do
  local sub, count = ARGV[i], tonumber(ARGV[i + 1])
  local records, queue, order, since = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local heads, lines = KEYS[k + 4], KEYS[k + 5]
  if enabled(KEYS[1], sub) then
    local in_order = ordered(KEYS[1], sub)
    local invoices = {}
    for j = i + 2, i + 1 + count do
      local event = ARGV[j]
      local invoice, sequence
      if in_order then
        if positions[event] == nil then positions[event] = {position(KEYS[3], KEYS[4], event)} end
        invoice, sequence = positions[event][1], positions[event][2]
      end
      local record = '{"status":"pending","attempts":[]}'
      if invoice then
        record = cjson.encode({status = 'pending', attempts = {}, invoice = invoice, sequence = sequence})
      end
      if redis.call('HSETNX', records, event, record) == 1 then
        if invoice then
          wait(queue, lines, event, invoice, sequence)
          invoices[invoice] = true
        else
          redis.call('ZADD', queue, now, event)
        end
        redis.call('ZADD', order, now, event)
        redis.call('ZADD', since, now, event)
        touched[sub] = true
      end
    end
    for invoice in pairs(invoices) do
      if redis.call('HEXISTS', heads, invoice) == 0 then promote(queue, heads, lines, invoice, now) end
    end
  end
  i = i + 2 + count
  k = k + 6
end
local out = {}
for sub in pairs(touched) do
  redis.call('ZADD', KEYS[2], 'LT', now, sub)
  table.insert(out, sub)
end
return out
"""
)

# A subscription's rate limit, as a GCRA (generic cell rate algorithm) on Redis's clock, shared by every
# worker: attempts are spaced 1000 / rate ms apart on average, and up to RATE_BURST_S's worth may go at once
# after a quiet spell. `take(key, rate, wanted)` returns how many of `wanted` may go now, and when fewer,
# the ms until the next may.
_RATE = (
    """
local function take(key, rate, wanted)
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
  local interval = 1000 / rate
  local burst = math.max(1, math.floor(rate * """
    + repr(RATE_BURST_S)
    + """))
  local caught_up = math.max(tonumber(redis.call('GET', key) or 0), now)
  local allowed = math.floor((now + burst * interval - caught_up) / interval + 1e-9)
  local taken = math.max(0, math.min(wanted, allowed))
  caught_up = caught_up + taken * interval
  if taken > 0 then
    redis.call('SET', key, string.format('%.3f', caught_up), 'PX', math.ceil(caught_up - now) + 1)
  end
  if taken == wanted then return taken, 0 end
  return taken, math.max(1, math.ceil(caught_up - (burst - 1) * interval - now))
end
"""
)

# KEYS: queue, records, due index, subscriptions hash, rate limiter. ARGV: now_ms, lease_end_ms, limit,
# subscription id, the SHA-1 of the caller's copy of the subscription. Returns the ms until the rate lets the
# next delivery go (0 unless it held some back); the stored subscription and its SHA-1 when that differs
# from the caller's copy (else two ''), so that a rotated secret signs from the next claim on; then pairs
# (event id, tries this round). A delivery held back by the rate stays due, its tries untouched.
_CLAIM = (
    _REINDEX
    + _RATE
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local wait = 0
local raw = redis.call('HGET', KEYS[4], ARGV[4])
if raw and #due > 0 then
  local rate = cjson.decode(raw).rate_limit
  if type(rate) == 'number' and rate > 0 then
    local taken
    taken, wait = take(KEYS[5], rate, #due)
    for j = #due, taken + 1, -1 do due[j] = nil end
  end
end
local out = {wait, '', ''}
if raw then
  local sha = redis.sha1hex(raw)
  if sha ~= ARGV[5] then out[2] = sha; out[3] = raw end
end
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

# KEYS: queue, records, subscriptions hash, due index, pending-since, stats, health, event log, event index,
# heads, lines, deliveries per minute, events per minute. ARGV: attempts kept, subscription id, then groups of (event id, status, next due ms or '', attempt JSON,
# subscriber health 'ok', 'failing' or '', then the id, account, type and stored body of an operational event to
# log if this outcome makes the delivery failed, or four ''). A retry for a subscription disabled meanwhile is
# recorded as failed, never queued again: its lane is gone. Each attempt is stamped with what started its round
# (`trigger`). A finished head hands its invoice's turn to the next waiting delivery, whatever the subscription's
# ordering is now (one switched to `none` leaves nothing waiting, or, had the switch's release not run, lets the
# waiting go one by one). Returns when the subscriber's failing streak began (unix ms, by Redis' clock), or 0
# when it is not failing.
_RECORD = (
    _ENABLED
    + _ORDER
    + _REINDEX
    + APPEND_EVENT
    + COUNT_MINUTE
    + """
local keep = tonumber(ARGV[1])
local live = enabled(KEYS[3], ARGV[2])
local now = clock_ms()
for i = 3, #ARGV, 9 do
  local event, status, next_due, attempt, health = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local op_id, op_account, op_type, op_body = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  if not live and status == 'pending' then status = 'failed'; next_due = '' end
  local raw = redis.call('HGET', KEYS[2], event)
  if raw then
    local record = cjson.decode(raw)
    local attempts = record.attempts
    if type(attempts) ~= 'table' then attempts = {} end
    local made = cjson.decode(attempt)
    made.trigger = record.trigger or 'scheduled'
    table.insert(attempts, made)
    while #attempts > keep do table.remove(attempts, 1) end
    local was = record.status
    record.attempts = attempts
    record.status = status
    record.tries = (record.tries or 0) + 1
    redis.call('HSET', KEYS[2], event, cjson.encode(record))
    if next_due == '' then
      redis.call('ZREM', KEYS[1], event)
      redis.call('ZREM', KEYS[5], event)
      if record.invoice and redis.call('HGET', KEYS[10], record.invoice) == event then
        promote(KEYS[1], KEYS[10], KEYS[11], record.invoice, now)
      end
    else
      redis.call('ZADD', KEYS[1], next_due, event)
    end
    redis.call('HINCRBY', KEYS[6], 'attempts:' .. (status == 'pending' and 'retry' or status), 1)
    if status == 'failed' then redis.call('HINCRBY', KEYS[6], 'dead_lettered', 1) end
    count_minute(KEYS[12], 1)
    if status == 'failed' and was ~= 'failed' and op_id ~= '' then
      if append_event(KEYS[8], KEYS[9], op_id, op_account, op_type, op_body) then count_minute(KEYS[13], 1) end
    end
    if health == 'ok' then redis.call('HDEL', KEYS[7], 'failing_since')
    elseif health == 'failing' then redis.call('HSETNX', KEYS[7], 'failing_since', now) end
  end
end
reindex(KEYS[4], KEYS[1], ARGV[2])
return tonumber(redis.call('HGET', KEYS[7], 'failing_since') or 0)
"""
)

# KEYS: queue, records, due index, pending-since, stats, heads, lines. ARGV: subscription id. Every queued
# delivery, waiting ones included, becomes failed (the subscription is disabled).
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
redis.call('DEL', KEYS[1], KEYS[4], KEYS[6], KEYS[7])
redis.call('ZREM', KEYS[3], ARGV[1])
if #queued > 0 then redis.call('HINCRBY', KEYS[5], 'dead_lettered', #queued) end
return #queued
"""

# KEYS: queue, records, order, subscriptions hash, due index, pending-since, heads, lines, event index, event log.
# ARGV: subscription id, now_ms, trigger ('replay' or 'recover'), event ids. Queues each again as pending,
# history kept, its next attempts stamped with the trigger; for an ordered subscription, in its invoice's line
# by sequence, behind a delivery of that invoice under way.
_REQUEUE = (
    _ENABLED
    + _ORDER
    + """
if not enabled(KEYS[4], ARGV[1]) then return 0 end
local in_order = ordered(KEYS[4], ARGV[1])
local invoices = {}
for i = 4, #ARGV do
  local event = ARGV[i]
  local raw = redis.call('HGET', KEYS[2], event)
  local record = {status = 'pending', attempts = {}}
  if raw then record = cjson.decode(raw); record.status = 'pending' end
  record.tries = 0
  record.trigger = ARGV[3]
  if in_order and not record.invoice then record.invoice, record.sequence = position(KEYS[9], KEYS[10], event) end
  redis.call('HSET', KEYS[2], event, cjson.encode(record))
  if in_order and record.invoice and redis.call('HGET', KEYS[7], record.invoice) ~= event then
    wait(KEYS[1], KEYS[8], event, record.invoice, record.sequence)
    invoices[record.invoice] = true
  else
    redis.call('ZADD', KEYS[1], ARGV[2], event)
  end
  redis.call('ZADD', KEYS[3], ARGV[2], event)
  redis.call('ZADD', KEYS[6], ARGV[2], event)
end
for invoice in pairs(invoices) do
  if redis.call('HEXISTS', KEYS[7], invoice) == 0 then promote(KEYS[1], KEYS[7], KEYS[8], invoice, ARGV[2]) end
end
if #ARGV > 3 then redis.call('ZADD', KEYS[5], 'LT', ARGV[2], ARGV[1]) end
return #ARGV - 3
"""
)


# KEYS: queue, heads, lines, due index. ARGV: subscription id, now_ms. Every delivery waiting behind another
# of its invoice goes due now (the subscription no longer keeps the order).
_RELEASE = """
local waiting = redis.call('ZRANGE', KEYS[3], 0, -1)
for _, entry in ipairs(waiting) do
  redis.call('ZADD', KEYS[1], ARGV[2], string.match(entry, '([^%z]*)$'))
end
redis.call('DEL', KEYS[2], KEYS[3])
if #waiting > 0 then redis.call('ZADD', KEYS[4], 'LT', ARGV[2], ARGV[1]) end
return #waiting
"""


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


class ClaimBatch(list[Claimed]):
    """The claimed deliveries, and what the claim learned about the subscription on the way."""

    __slots__ = ("fingerprint", "subscription", "throttled_s")

    def __init__(
        self,
        deliveries: Iterable[Claimed],
        throttled_s: float = 0.0,
        subscription: bytes | None = None,
        fingerprint: str = "",
    ) -> None:
        super().__init__(deliveries)
        #: When the subscription's rate limit held deliveries back: seconds until the next may go (else 0).
        self.throttled_s = throttled_s
        #: The stored subscription JSON when it differs from the claimer's copy (None when it does not).
        self.subscription = subscription
        #: Its SHA-1, to pass as `known` to the next claim.
        self.fingerprint = fingerprint


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: str
    status: str
    next_due_ms: int | None
    attempt: dict[str, Any]
    #: What the attempt says of the subscriber: True answering, False failing, None nothing (nothing was sent).
    subscriber_ok: bool | None = None
    #: Logged if this outcome makes the delivery failed: the report that its attempts are exhausted.
    exhausted: OperationalEvent | None = None


_HEALTH = {True: "ok", False: "failing", None: ""}


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
        self._release = redis.register_script(_RELEASE)
        self._log = EventLog(redis)

    async def fan_out(self, pairs: Sequence[tuple[str, str]], now_ms: int) -> list[str]:
        """Create the deliveries (subscription id, event id) that do not exist yet."""
        if not pairs:
            return []
        by_subscription: dict[str, list[str]] = {}
        for subscription_id, event_id in pairs:
            by_subscription.setdefault(subscription_id, []).append(event_id)
        keys = [SUBSCRIPTIONS, DELIVERIES_DUE, EVENT_INDEX, EVENTS]
        args: list[str | int] = [now_ms]
        for subscription_id, event_ids in by_subscription.items():
            keys += [
                delivery_records(subscription_id),
                delivery_queue(subscription_id),
                delivery_order(subscription_id),
                delivery_pending_since(subscription_id),
                delivery_heads(subscription_id),
                delivery_lines(subscription_id),
            ]
            args += [subscription_id, len(event_ids), *event_ids]
        touched = await self._fanout(keys=keys, args=args)
        return [text(item) for item in touched]

    async def claim(self, subscription_id: str, now_ms: int, lease_ms: int, limit: int, known: str = "") -> ClaimBatch:
        """Up to `limit` due deliveries, as many as the subscription's rate limit lets go now; and the stored
        subscription unless `known` is the fingerprint of that very copy."""
        keys = [
            delivery_queue(subscription_id),
            delivery_records(subscription_id),
            DELIVERIES_DUE,
            SUBSCRIPTIONS,
            delivery_rate(subscription_id),
        ]
        wait_ms, fingerprint, stored, *pairs = await self._claim(
            keys=keys, args=[now_ms, now_ms + lease_ms, limit, subscription_id, known]
        )
        deliveries = (Claimed(text(pairs[i]), int(pairs[i + 1])) for i in range(0, len(pairs), 2))
        return ClaimBatch(deliveries, int(wait_ms) / 1000, bytes(stored) or None, text(fingerprint))

    async def due_subscriptions(self, now_ms: int) -> list[str]:
        """Subscriptions with a delivery due by `now_ms`: one read, however many subscriptions there are."""
        return [text(item) for item in await self._redis.zrangebyscore(DELIVERIES_DUE, "-inf", now_ms)]

    async def record(self, subscription_id: str, outcomes: Sequence[Outcome]) -> int | None:
        """Record the attempts' outcomes; returns when the subscriber's failing streak began (unix ms, no
        success since), or None when it is not failing."""
        if not outcomes:
            return None
        args: list[str | int | bytes] = [MAX_ATTEMPTS_KEPT, subscription_id]
        for outcome in outcomes:
            next_due = "" if outcome.next_due_ms is None else outcome.next_due_ms
            args += [outcome.event_id, outcome.status, next_due, orjson.dumps(outcome.attempt)]
            args.append(_HEALTH[outcome.subscriber_ok])
            args += ["", "", "", ""] if outcome.exhausted is None else operational_fields(outcome.exhausted)
        keys = [
            delivery_queue(subscription_id),
            delivery_records(subscription_id),
            SUBSCRIPTIONS,
            DELIVERIES_DUE,
            delivery_pending_since(subscription_id),
            delivery_stats(subscription_id),
            delivery_health(subscription_id),
            EVENTS,
            EVENT_INDEX,
            delivery_heads(subscription_id),
            delivery_lines(subscription_id),
            per_minute(per_minute_kinds.DELIVERIES),
            per_minute(per_minute_kinds.EVENTS),
        ]
        failing_since = int(await self._record(keys=keys, args=args))
        return failing_since or None

    async def clear_failing(self, subscription_id: str) -> None:
        """Forget the subscriber's failing streak (it was enabled again: the clock starts afresh)."""
        await awaited(self._redis.hdel(delivery_health(subscription_id), "failing_since"))

    async def fail_all(self, subscription_id: str) -> int:
        return int(
            await self._fail_all(
                keys=[
                    delivery_queue(subscription_id),
                    delivery_records(subscription_id),
                    DELIVERIES_DUE,
                    delivery_pending_since(subscription_id),
                    delivery_stats(subscription_id),
                    delivery_heads(subscription_id),
                    delivery_lines(subscription_id),
                ],
                args=[subscription_id],
            )
        )

    async def requeue(self, subscription_id: str, event_ids: Sequence[str], now_ms: int, trigger: str = REPLAY) -> int:
        if not event_ids:
            return 0
        keys = [
            delivery_queue(subscription_id),
            delivery_records(subscription_id),
            delivery_order(subscription_id),
            SUBSCRIPTIONS,
            DELIVERIES_DUE,
            delivery_pending_since(subscription_id),
            delivery_heads(subscription_id),
            delivery_lines(subscription_id),
            EVENT_INDEX,
            EVENTS,
        ]
        total = 0
        for start in range(0, len(event_ids), 500):
            batch = event_ids[start : start + 500]
            total += int(await self._requeue(keys=keys, args=[subscription_id, now_ms, trigger, *batch]))
        return total

    async def release_waiting(self, subscription_id: str, now_ms: int) -> int:
        """Make every delivery waiting behind another of its invoice due now: for a subscription whose ordering
        was switched off. How many were waiting."""
        keys = [
            delivery_queue(subscription_id),
            delivery_heads(subscription_id),
            delivery_lines(subscription_id),
            DELIVERIES_DUE,
        ]
        return int(await self._release(keys=keys, args=[subscription_id, now_ms]))

    async def failed_among(self, subscription_id: str, event_ids: Sequence[str]) -> list[str]:
        """Those of `event_ids` whose delivery to this subscription is `failed`, in the order given."""
        failed: list[str] = []
        for start in range(0, len(event_ids), 500):
            batch = list(event_ids[start : start + 500])
            records = await awaited(self._redis.hmget(delivery_records(subscription_id), batch))
            failed += [e for e, raw in zip(batch, records, strict=True) if raw and _record(raw)["status"] == FAILED]
        return failed

    async def list(
        self,
        subscription_id: str,
        *,
        status: str | None,
        limit: int,
        since_ms: int | None = None,
        until_ms: int | None = None,
        event_type: str | None = None,
        scan_budget: int = 10_000,
    ) -> list[dict[str, Any]]:
        """Deliveries newest first (by when they were queued: made, or last replayed or recovered), optionally
        only those in `status`, queued within [since_ms, until_ms], of events matching `event_type` (as the
        event log's listing matches types)."""
        rows: list[dict[str, Any]] = []
        offset = 0
        order = delivery_order(subscription_id)
        high = "+inf" if until_ms is None else until_ms
        low = "-inf" if since_ms is None else since_ms
        while len(rows) < limit and offset < scan_budget:
            ids = await awaited(self._redis.zrevrangebyscore(order, high, low, start=offset, num=500))
            if not ids:
                break
            offset += len(ids)
            event_ids = [text(event_id) for event_id in ids]
            records = await awaited(self._redis.hmget(delivery_records(subscription_id), event_ids))
            types = await self._log.types(event_ids) if event_type is not None else {}
            for event_id, raw in zip(event_ids, records, strict=True):
                if raw is None or (event_type is not None and not type_matches(event_type, types.get(event_id, ""))):
                    continue
                record = _record(raw)
                if status is None or record.get("status") == status:
                    rows.append({"event_id": event_id, "status": record["status"], "attempts": record["attempts"]})
                    if len(rows) == limit:
                        break
        return rows

    async def of_event(self, subscription_ids: Sequence[str], event_id: str) -> dict[str, dict[str, Any]]:
        """The event's delivery to each of the subscriptions that has one (status and attempts), one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for subscription_id in subscription_ids:
                pipe.hget(delivery_records(subscription_id), event_id)
            replies = await pipe.execute()
        return {
            subscription_id: _record(raw)
            for subscription_id, raw in zip(subscription_ids, replies, strict=True)
            if raw is not None
        }

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
                delivery_health(subscription_id),
                delivery_pending_since(subscription_id),
                delivery_stats(subscription_id),
                delivery_heads(subscription_id),
                delivery_lines(subscription_id),
                delivery_rate(subscription_id),
            )
            pipe.zrem(DELIVERIES_DUE, subscription_id)
            await pipe.execute()
