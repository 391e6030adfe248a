"""The worker's transactions through a connection lost while keys are watched (a real Redis)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.exceptions import WatchError

from service.state.connection import redis_target
from workers.bootstrap import redis_pool

KEY = "relay:test:watched"


async def kill_connection(url: str, client_id: int) -> None:
    admin = Redis.from_url(url)
    try:
        assert await admin.client_kill_filter(_id=client_id) == 1
    finally:
        await admin.aclose()


async def test_reads_after_a_lost_watch_are_answered_and_exec_refuses(redis_url: str) -> None:
    pool = redis_pool(redis_target(redis_url))
    try:
        await pool.set(KEY, "before")
        async with pool.pipeline(transaction=True) as pipe:
            await pipe.watch(KEY)
            await kill_connection(redis_url, await pipe.client_id())
            assert await pipe.get(KEY) == b"before"  # read on a new connection, the key watched again
            pipe.multi()
            pipe.set(KEY, "written")
            with pytest.raises(WatchError):
                await pipe.execute()
        assert await pool.get(KEY) == b"before"
        async with pool.pipeline(transaction=True) as pipe:  # the next transaction is unaffected
            await pipe.watch(KEY)
            assert await pipe.get(KEY) == b"before"
            pipe.multi()
            pipe.set(KEY, "written")
            assert await pipe.execute() == [True]
        assert await pool.get(KEY) == b"written"
    finally:
        await pool.aclose()


async def test_a_conflicting_write_is_still_a_watch_error(redis_url: str) -> None:
    pool = redis_pool(redis_target(redis_url))
    other = Redis.from_url(redis_url)
    try:
        async with pool.pipeline(transaction=True) as pipe:
            await pipe.watch(KEY)
            await other.set(KEY, "theirs")
            pipe.multi()
            pipe.set(KEY, "ours")
            with pytest.raises(WatchError):
                await pipe.execute()
        assert await pool.get(KEY) == b"theirs"
    finally:
        await other.aclose()
        await pool.aclose()
