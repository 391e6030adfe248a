import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from service.state.keys import SYNC_DUE
from service.state.scheduling import SyncRequest, SyncSchedule
from service.state.trigger_batch import TriggerBatcher
from tests.support.procs import free_port


async def test_concurrent_requests_share_writes_and_keep_the_earliest_time(redis: Redis) -> None:
    batcher = TriggerBatcher(SyncSchedule(redis))
    await asyncio.gather(*(batcher.request(SyncRequest(f"a{i % 7}", 1000 + i)) for i in range(500)))
    assert await redis.zcard(SYNC_DUE) == 7
    assert await redis.zscore(SYNC_DUE, "a0") == 1000
    assert await redis.zscore(SYNC_DUE, "a6") == 1006


async def test_a_lone_request_is_written_at_once(redis: Redis) -> None:
    batcher = TriggerBatcher(SyncSchedule(redis))
    await asyncio.wait_for(batcher.request(SyncRequest("shop", 5)), timeout=2)
    assert await redis.zscore(SYNC_DUE, "shop") == 5


async def test_every_waiter_of_a_failed_write_sees_the_error() -> None:
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    batcher = TriggerBatcher(SyncSchedule(down))
    results = await asyncio.gather(
        *(batcher.request(SyncRequest("shop", i)) for i in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, RedisConnectionError) for r in results)
    with pytest.raises(RedisConnectionError):
        await batcher.request(SyncRequest("shop", 1))  # the batcher recovers its state and tries again
    await down.aclose()
