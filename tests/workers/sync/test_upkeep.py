"""The upkeep against a real Redis: polled accounts put back on the schedule, a Redis that lost its data
noticed, logged and counted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from contracts.accounts import Account
from service.metrics import STATE_LOSSES
from service.state.keys import SYNC_DUE
from service.state.stores import Stores
from workers.sync.upkeep import Upkeep

ACCOUNTS = {
    "polled": Account(name="polled", provider="cryptocloud", base_url="https://a.example", poll_interval=60),
    "also": Account(name="also", provider="simplepay", base_url="https://b.example", poll_interval=300),
    "callbacks": Account(name="callbacks", provider="cryptocloud", base_url="https://c.example", poll_interval=0),
}


@pytest.fixture
async def stores(redis_url: str) -> AsyncIterator[Stores]:
    redis = Redis.from_url(redis_url)
    yield Stores.over(redis)
    await redis.aclose()


async def due(stores: Stores) -> dict[str, float]:
    return {member.decode(): score for member, score in await stores.redis.zrange(SYNC_DUE, 0, -1, withscores=True)}


async def test_the_first_check_schedules_every_polled_account_and_is_no_loss(stores: Stores) -> None:
    upkeep = Upkeep(stores, ACCOUNTS)
    assert await upkeep.check_once() is False
    assert set(await due(stores)) == {"polled", "also"}


async def test_a_scheduled_account_keeps_its_due_time(stores: Stores) -> None:
    await stores.schedule.schedule_missing(["polled"], 42)
    await Upkeep(stores, ACCOUNTS).check_once()
    assert (await due(stores))["polled"] == 42


async def test_an_account_lost_from_the_schedule_is_put_back(stores: Stores) -> None:
    upkeep = Upkeep(stores, ACCOUNTS)
    await upkeep.check_once()
    await stores.redis.zrem(SYNC_DUE, "also")
    with capture_logs() as logs:
        assert await upkeep.check_once() is False
    assert "also" in await due(stores)
    assert [entry["event"] for entry in logs] == ["schedule_restored"]


async def test_a_redis_that_lost_its_data_is_noticed_once_and_rebuilt(stores: Stores) -> None:
    first, second = Upkeep(stores, ACCOUNTS), Upkeep(stores, ACCOUNTS)
    await first.check_once()
    await second.check_once()
    before = STATE_LOSSES._value.get()
    await stores.redis.flushdb()
    assert await stores.marker.last_loss_at_ms() is None

    with capture_logs() as logs:
        assert await first.check_once() is True
        assert await second.check_once() is False  # the first rebuilt the marker: one loss, noticed once
    assert [entry["log_level"] for entry in logs if entry["event"] == "redis_state_lost"] == ["error"]
    assert STATE_LOSSES._value.get() == before + 1
    assert await stores.marker.last_loss_at_ms() is not None
    assert set(await due(stores)) == {"polled", "also"}


async def test_a_fresh_process_on_an_empty_redis_reports_no_loss(stores: Stores) -> None:
    with capture_logs() as logs:
        assert await Upkeep(stores, ACCOUNTS).check_once() is False
    assert not [entry for entry in logs if entry["event"] == "redis_state_lost"]
    assert await stores.marker.last_loss_at_ms() is None
