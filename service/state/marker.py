"""The state marker: a key written into a Redis that holds the relay's state, so that its absence later says
Redis lost its data (a FLUSHALL, or a restart without its append-only file).

Every other key may legitimately be missing (an empty log, no subscriptions); this one never is once a
worker has run, so a worker that finds it gone knows to rebuild what it needs. The marker also keeps when
the last loss was noticed, for `/metrics`.
"""

from __future__ import annotations

from redis.asyncio import Redis

from service.state.keys import STATE_MARKER
from service.state.redis_types import awaited

# KEYS: marker. ARGV: now_ms, 1 when the caller saw the marker before. Returns 1 when the marker was missing.
_ENSURE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'created_at_ms', ARGV[1])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'last_loss_at_ms', ARGV[1])
end
return 1
"""


class StateMarker:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._ensure = redis.register_script(_ENSURE)

    async def ensure(self, now_ms: int, *, seen_before: bool) -> bool:
        """Write the marker unless it exists; True when it was missing. When the caller had `seen_before` it,
        a missing marker is a loss of data, and counted as one."""
        return bool(await self._ensure(keys=[STATE_MARKER], args=[now_ms, "1" if seen_before else "0"]))

    async def last_loss_at_ms(self) -> int | None:
        """When a worker last noticed that Redis had lost its data; None if none has since the marker began."""
        value = await awaited(self._redis.hget(STATE_MARKER, "last_loss_at_ms"))
        return None if value is None else int(value)
