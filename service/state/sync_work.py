"""What an account's next sync has to read: the invoices callbacks named (hints), a request for a full read,
and when the last full and narrow reads ended.

A sync takes what is pending when it starts and, once its read is committed, removes exactly what it took:
a hint or request recorded while it ran carries another stamp (see `service.state.scheduling`) and stays
for the sync after it. A sync that dies removes nothing: the next one reads it all again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from redis.asyncio import Redis

from service.state.keys import account_state, sync_hints, sync_traces
from service.state.redis_types import awaited, text

# KEYS: hints, account state. ARGV: the full-read request's stamp taken ('' for none), when a full read ended
# ('' for none), when a narrow read ended ('' for none), then pairs (invoice id, stamp taken).
_SERVED = """
if ARGV[1] ~= '' and redis.call('HGET', KEYS[2], 'full_requested') == ARGV[1] then
  redis.call('HDEL', KEYS[2], 'full_requested')
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], 'last_full_ms', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'last_narrow_ms', ARGV[3]) end
for i = 4, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 1
"""


@dataclass(frozen=True, slots=True)
class PendingWork:
    #: Invoice id -> the stamp of the latest request naming it.
    hints: Mapping[str, str] = field(default_factory=dict)
    #: The stamp of a pending request for a full read, or None.
    full_requested: str | None = None
    #: When the last full read, and the last narrow read, of the account ended (unix ms), if ever.
    last_full_ms: int | None = None
    last_narrow_ms: int | None = None
    #: The traceparents of the traced callbacks waiting, taken by this sync (tracing on only).
    traceparents: tuple[str, ...] = ()


class SyncWorkStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._served = redis.register_script(_SERVED)

    async def pending(self, account: str) -> PendingWork:
        """Everything pending for the account, in one round trip. The traceparents are taken (a sync that dies
        leaves its successor no links: traces are best effort, hints and requests are not)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(sync_hints(account))
            pipe.hmget(account_state(account), ["full_requested", "last_full_ms", "last_narrow_ms"])
            pipe.lpop(sync_traces(account), 64)
            hints, (full_requested, last_full, last_narrow), traces = await pipe.execute()
        return PendingWork(
            hints={text(invoice_id): text(stamp) for invoice_id, stamp in hints.items()},
            full_requested=None if full_requested is None else text(full_requested),
            last_full_ms=None if last_full is None else int(last_full),
            last_narrow_ms=None if last_narrow is None else int(last_narrow),
            traceparents=tuple(text(t) for t in traces or ()),
        )

    async def take_traceparents(self, account: str) -> tuple[str, ...]:
        """The traceparents of the traced callbacks waiting, taken (see `pending`)."""
        taken = await awaited(self._redis.lpop(sync_traces(account), 64))
        return tuple(text(t) for t in taken or ())

    async def hints(self, account: str) -> dict[str, str]:
        """The hints pending now (read between the pages of a full read)."""
        found = await awaited(self._redis.hgetall(sync_hints(account)))
        return {text(invoice_id): text(stamp) for invoice_id, stamp in found.items()}

    async def served(
        self,
        account: str,
        *,
        hints: Mapping[str, str],
        full_requested: str | None = None,
        full_read_at_ms: int | None = None,
        narrow_read_at_ms: int | None = None,
    ) -> None:
        """Remove what a committed read took (unless requested again since), and note when it ended."""
        args: list[str | int] = [
            full_requested or "",
            "" if full_read_at_ms is None else full_read_at_ms,
            "" if narrow_read_at_ms is None else narrow_read_at_ms,
        ]
        for invoice_id, stamp in hints.items():
            args += [invoice_id, stamp]
        await self._served(keys=[sync_hints(account), account_state(account)], args=args)
