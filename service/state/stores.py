"""`Stores`: every store over one Redis client, opened once per process and shared by its parts."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from service.state.account_state import AccountStates
from service.state.deliveries import DeliveryStore
from service.state.eventlog import EventLog, FanoutFeed
from service.state.marker import StateMarker
from service.state.memory import Memory, memory
from service.state.retention import Retention
from service.state.scheduling import SyncSchedule
from service.state.subscriptions import SubscriptionStore
from service.state.sync_work import SyncWorkStore
from service.state.trigger_batch import TriggerBatcher


@dataclass(frozen=True, slots=True)
class Stores:
    redis: Redis
    schedule: SyncSchedule
    triggers: TriggerBatcher
    work: SyncWorkStore
    eventlog: EventLog
    fanout_feed: FanoutFeed
    states: AccountStates
    subscriptions: SubscriptionStore
    deliveries: DeliveryStore
    marker: StateMarker
    retention: Retention

    @classmethod
    def over(cls, redis: Redis) -> Stores:
        schedule = SyncSchedule(redis)
        return cls(
            redis=redis,
            schedule=schedule,
            triggers=TriggerBatcher(schedule),
            work=SyncWorkStore(redis),
            eventlog=EventLog(redis),
            fanout_feed=FanoutFeed(redis),
            states=AccountStates(redis),
            subscriptions=SubscriptionStore(redis),
            deliveries=DeliveryStore(redis),
            marker=StateMarker(redis),
            retention=Retention(redis),
        )

    async def memory(self) -> Memory:
        return await memory(self.redis)

    async def queue_depths(self, now_ms: int) -> dict[str, int]:
        """Work waiting in Redis: syncs due now, and deliveries queued across every subscription."""
        return {
            "syncs_due": await self.schedule.due_count(now_ms),
            "deliveries_queued": await self.deliveries.queued_total(await self.subscriptions.ids()),
        }
