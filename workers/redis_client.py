"""The worker's Redis client: arq's `ArqRedis`, whose transactions outlive a connection lost mid-WATCH.

arq starts a job with WATCH, a few reads, then MULTI/EXEC, and catches a `WatchError` only from EXEC.
redis-py raises that `WatchError` from whichever command meets the lost connection, so a Redis restart
between arq's WATCH and its reads ended the worker's main loop. Here the loss is kept until EXEC: the keys
are watched again on a new connection, the command is answered from it, and EXEC then refuses the
transaction as a conflict would, without writing anything. arq leaves the job queued for its next poll.
"""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError
from redis.typing import KeyT

LOST_CONNECTION = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError, TimeoutError)


def lost_connection(error: WatchError) -> bool:
    """Whether redis-py raised `error` for a connection that died while keys were watched (not a conflict)."""
    return isinstance(error.__context__, LOST_CONNECTION)


class WatchKeepingPipeline(Pipeline):
    """A pipeline that, once its WATCH is lost with its connection, watches again and fails at EXEC."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watched: list[KeyT] = []
        self.watch_lost = False

    async def watch(self, *names: KeyT) -> Any:  # type: ignore[override]  # redis-py types it as the client's
        answer = await super().watch(*names)
        self.watched.extend(names)
        return answer

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        while True:
            watched = list(self.watched)  # redis-py resets the pipeline before it raises
            try:
                return await super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]
            except WatchError as error:
                if not (watched and lost_connection(error)):
                    raise
                # Watch the same keys again (retried through the outage like any command), then answer the
                # command from the new connection; EXEC will refuse.
                await super().immediate_execute_command("WATCH", *watched)  # type: ignore[no-untyped-call]
                self.watched = watched
                self.watch_lost = True

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if self.watch_lost:
            await self.reset()
            raise WatchError("the connection was lost while keys were watched")
        return list(await super().execute(raise_on_error))

    async def reset(self) -> None:
        await super().reset()  # type: ignore[no-untyped-call]
        self.watched = []
        self.watch_lost = False


class WorkerRedis(ArqRedis):
    """`ArqRedis` whose pipelines are `WatchKeepingPipeline`s."""

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> WatchKeepingPipeline:
        return WatchKeepingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
