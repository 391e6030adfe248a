"""Redis memory: how full it is, and whether its eviction policy can lose the relay's data.

The relay's state is data, not a cache: an evicted key is a lost trigger, event or delivery. Redis must
run with `maxmemory-policy noeviction`, so that when it is full it refuses writes (the relay answers 503
and retries) instead of dropping keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from service.state.redis_types import text

SAFE_POLICY = "noeviction"
#: Above this share of `maxmemory` the worker logs a warning.
WARN_RATIO = 0.8


@dataclass(frozen=True, slots=True)
class Memory:
    used_bytes: int
    #: `maxmemory`; 0 when Redis has no limit of its own.
    max_bytes: int
    policy: str

    @property
    def full(self) -> bool:
        return self.max_bytes > 0 and self.used_bytes >= self.max_bytes

    @property
    def ratio(self) -> float | None:
        return self.used_bytes / self.max_bytes if self.max_bytes else None


class UnsafePolicy(Exception):
    """Redis may evict keys when full: the relay refuses to run on it."""


async def memory(redis: Redis) -> Memory:
    """From `INFO memory`, which managed Redis services answer even where `CONFIG` is disabled."""
    info = await redis.info("memory")
    return Memory(
        used_bytes=int(info["used_memory"]),
        max_bytes=int(info.get("maxmemory", 0)),
        policy=text(info.get("maxmemory_policy", SAFE_POLICY)),
    )


def check_policy(found: Memory) -> None:
    """`UnsafePolicy`, saying what to change, unless full Redis refuses writes rather than dropping keys."""
    if found.policy != SAFE_POLICY:
        raise UnsafePolicy(
            f"Redis runs with maxmemory-policy {found.policy}: when full it would evict keys, and an evicted key "
            f"is lost data (a trigger, an event, a delivery). Set maxmemory-policy {SAFE_POLICY} "
            f"(CONFIG SET maxmemory-policy {SAFE_POLICY}, or the setting of your Redis service)."
        )
