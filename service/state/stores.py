"""`Stores`: every store over one Redis client, opened once per process and shared by its parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from service.state.account_state import AccountStates
from service.state.deliveries import DeliveryStore, SubscriptionFigures
from service.state.eventlog import EventLog, FanoutFeed
from service.state.keys import ARQ_QUEUE, sync_hints
from service.state.marker import StateMarker
from service.state.memory import Memory, memory
from service.state.per_minute import PerMinute
from service.state.retention import Retention
from service.state.scheduling import SyncSchedule
from service.state.subscriptions import SubscriptionStore
from service.state.sync_work import SyncWorkStore
from service.state.trigger_batch import TriggerBatcher
from service.state.worker_metrics import WorkerMetricsStore


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
    worker_metrics: WorkerMetricsStore
    per_minute: PerMinute

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
            worker_metrics=WorkerMetricsStore(redis),
            per_minute=PerMinute(redis),
        )

    async def memory(self) -> Memory:
        return await memory(self.redis)

    async def figures(self, now_ms: int, accounts: Sequence[str], workers_ttl_ms: int) -> Figures:
        """Everything `/metrics` reads from Redis, in a few round trips (bounded: at most MAX_SUBSCRIPTIONS
        subscriptions, and the configured accounts)."""
        subscription_ids = await self.subscriptions.ids()
        subscriptions = await self.deliveries.figures(subscription_ids, now_ms)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(ARQ_QUEUE)
            for account in accounts:
                pipe.hlen(sync_hints(account))
            jobs_queued, *hints = await pipe.execute()
        return Figures(
            read_at_ms=now_ms,
            queue_depths={
                "syncs_due": await self.schedule.due_count(now_ms),
                "sync_jobs_queued": int(jobs_queued),
                "sync_hints": sum(int(count) for count in hints),
                "deliveries_queued": sum(found.pending for found in subscriptions),
                "deliveries_due": sum(found.due for found in subscriptions),
            },
            subscriptions=subscriptions,
            state_lost_at_ms=await self.marker.last_loss_at_ms(),
            memory=await self.memory(),
            workers=await self.worker_metrics.published(now_ms, workers_ttl_ms),
        )


@dataclass(frozen=True, slots=True)
class Figures:
    """What `/metrics` shows of the relay's state in Redis, read at scrape time."""

    read_at_ms: int

    #: Work waiting, by kind: `syncs_due` (accounts whose sync is due), `sync_jobs_queued` (syncs queued for
    #: a worker, not started), `sync_hints` (invoices named by callbacks, for their account's next sync),
    #: `deliveries_queued` and `deliveries_due` (across every subscription).
    queue_depths: dict[str, int]
    subscriptions: tuple[SubscriptionFigures, ...]
    state_lost_at_ms: int | None
    memory: Memory
    #: Worker id -> its published samples.
    workers: dict[str, bytes]
