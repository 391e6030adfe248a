"""Per-minute counts of what the relay does, for the console's activity charts over the last hour.

Each kind is counted where it is already written, inside the script or transaction that writes it (a callback's
sync request, a sync's recorded outcome, an event's commit, a delivery attempt's record): the hot paths pay no
extra round trip, and a count is never off from what happened. The counts live in one hash per kind, a field
per minute. A minute's first count drops the fields from 61 to 130 minutes back; the hash expires after
`TTL_S` without a count. Between the two no field outlives the longest window read (any quiet spell shorter
than the TTL is followed, within 70 minutes, by a first count that drops it).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from service.state.keys import per_minute
from service.state.redis_types import text

CALLBACKS = "callbacks"
SYNCS = "syncs"
EVENTS = "events"
#: Delivery attempts recorded, whatever their outcome.
DELIVERIES = "deliveries"
KINDS = (CALLBACKS, SYNCS, EVENTS, DELIVERIES)
#: Minutes a read returns, oldest first, ending with the current one.
WINDOW_MINUTES = 60
TTL_S = 70 * 60

# `count_minute(key, n)`: add n to the current minute's count (by Redis's clock, so every process agrees).
COUNT_MINUTE = (
    """
local function count_minute(key, n)
  if n <= 0 then return end
  local minute = math.floor(tonumber(redis.call('TIME')[1]) / 60)
  if redis.call('HINCRBY', key, minute, n) == n then
    local old = {}
    for m = minute - 130, minute - 61 do old[#old + 1] = m end
    redis.call('HDEL', key, unpack(old))
  end
  redis.call('EXPIRE', key, """
    + str(TTL_S)
    + """)
end
"""
)

_COUNT = COUNT_MINUTE + "count_minute(KEYS[1], tonumber(ARGV[1]))"


class PerMinute:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._count = redis.register_script(_COUNT)

    async def queue(self, pipe: Pipeline, kind: str, n: int = 1) -> None:
        """Queue a count in a transaction pipeline: it lands with the write it counts, or not at all."""
        await self._count(keys=[per_minute(kind)], args=[n], client=pipe)

    async def last_hour(self, now_s: float, kinds: Sequence[str] = KINDS) -> dict[str, list[int]]:
        """Per kind, WINDOW_MINUTES counts, oldest first, the last one the minute of `now_s` (one round trip)."""
        current = int(now_s // 60)
        minutes = [str(current - back) for back in range(WINDOW_MINUTES - 1, -1, -1)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for kind in kinds:
                pipe.hmget(per_minute(kind), minutes)
            replies = await pipe.execute()
        return {
            kind: [int(text(value)) if value else 0 for value in reply]
            for kind, reply in zip(kinds, replies, strict=True)
        }
