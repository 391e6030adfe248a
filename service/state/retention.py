"""Retention: events older than the horizon leave the log, with their index entries and every
subscription's delivery records of them, in bounded batches; never an event that a delivery still waits on,
nor one the fan-out has not finished with.

One worker at a time trims (a lock with a lease), batch after batch, each batch one script: a worker killed
between batches leaves a consistent log, and the next trimmer goes on from the oldest entry left. Invoice
snapshots are state, not history: they are never trimmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from service.state.keys import (
    EVENT_INDEX,
    EVENTS,
    FANOUT_GROUP,
    RETENTION_LOCK,
    delivery_order,
    delivery_queue,
    delivery_records,
)
from service.state.redis_types import text

# KEYS: the log, its index, then (queue, records, order) of every subscription. ARGV: the first entry id to
# look at (inclusive), the bound (exclusive), the most entries to look at. An event any subscription still
# has queued (pending, retrying, or waiting for its invoice's turn: `keys.delivery_lines`) is kept; another is
# removed with its index entry and delivery records.
# Returns removed, kept, and the last entry id looked at ('' when none).
_TRIM = """
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], '(' .. ARGV[2], 'COUNT', tonumber(ARGV[3]))
local removed, kept, last = 0, 0, ''
for _, entry in ipairs(entries) do
  local entry_id, fields = entry[1], entry[2]
  last = entry_id
  local event = false
  for f = 1, #fields, 2 do
    if fields[f] == 'id' then event = fields[f + 1] end
  end
  local waited_on = false
  if event then
    for k = 3, #KEYS, 3 do
      if redis.call('ZSCORE', KEYS[k], event) then waited_on = true; break end
    end
  end
  if waited_on then
    kept = kept + 1
  else
    if event then
      redis.call('HDEL', KEYS[2], event)
      for k = 3, #KEYS, 3 do
        redis.call('HDEL', KEYS[k + 1], event)
        redis.call('ZREM', KEYS[k + 2], event)
      end
    end
    redis.call('XDEL', KEYS[1], entry_id)
    removed = removed + 1
  end
end
return {removed, kept, last}
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def entry_order(entry_id: str) -> tuple[int, int]:
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)


@dataclass(frozen=True, slots=True)
class TrimBatch:
    removed: int
    #: Entries left because a delivery of theirs is still pending.
    kept: int
    #: The last entry looked at; None when there was none left before the bound.
    last_entry: str | None


class Retention:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._trim = redis.register_script(_TRIM)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def bound(self, cutoff_ms: int) -> str:
        """The entry id trimming stops before: the horizon, or the first entry the fan-out has not finished with
        (not yet read, or read and not acknowledged), whichever is older. '0-0' when there is no fan-out yet."""
        bound = f"{cutoff_ms}-0"
        try:
            groups = await self._redis.xinfo_groups(EVENTS)
        except ResponseError:  # no log yet
            return "0-0"
        group = next((g for g in groups if text(g["name"]) == FANOUT_GROUP), None)
        if group is None:
            return "0-0"
        # The first entry after the last one handed out is not read yet.
        unread = entry_order(text(group["last-delivered-id"]))
        candidates = [entry_order(bound), (unread[0], unread[1] + 1)]
        if int(group["pending"]):
            pending = await self._redis.xpending(EVENTS, FANOUT_GROUP)
            candidates.append(entry_order(text(pending["min"])))
        millis, sequence = min(candidates)
        return f"{millis}-{sequence}"

    async def trim_batch(self, start: str, bound: str, subscription_ids: Sequence[str], count: int) -> TrimBatch:
        """Look at up to `count` entries from `start` (inclusive) to `bound` (exclusive)."""
        keys = [EVENTS, EVENT_INDEX]
        for subscription_id in subscription_ids:
            keys += [
                delivery_queue(subscription_id),
                delivery_records(subscription_id),
                delivery_order(subscription_id),
            ]
        removed, kept, last = await self._trim(keys=keys, args=[start, bound, count])
        return TrimBatch(int(removed), int(kept), text(last) or None)

    async def oldest_kept_ms(self) -> int | None:
        """The time of the oldest event still in the log (None when it is empty)."""
        first = await self._redis.xrange(EVENTS, count=1)
        return entry_order(text(first[0][0]))[0] if first else None

    async def lock(self, token: str, lease_ms: int) -> bool:
        return bool(await self._redis.set(RETENTION_LOCK, token, nx=True, px=lease_ms))

    async def renew(self, token: str, lease_ms: int) -> bool:
        return bool(await self._renew(keys=[RETENTION_LOCK], args=[token, lease_ms]))

    async def release(self, token: str) -> None:
        await self._release(keys=[RETENTION_LOCK], args=[token])
