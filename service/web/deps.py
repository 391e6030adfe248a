"""What the web process shares between requests, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from service.config import Settings
from service.state.account_state import AccountStates
from service.state.deliveries import DeliveryStore
from service.state.eventlog import EventLog
from service.state.scheduling import SyncSchedule
from service.state.subscriptions import SubscriptionStore
from service.state.trigger_batch import TriggerBatcher


@dataclass
class WebDeps:
    settings: Settings
    redis: Redis
    schedule: SyncSchedule
    eventlog: EventLog
    states: AccountStates
    triggers: TriggerBatcher
    subscriptions: SubscriptionStore
    deliveries: DeliveryStore

    @classmethod
    def build(cls, settings: Settings) -> WebDeps:
        # Short timeouts and one quick retry: while Redis is down a callback must get its 503 promptly,
        # so that the provider retries, rather than hang. The pool reconnects by itself when Redis returns.
        redis = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            retry=Retry(NoBackoff(), retries=1),
            retry_on_timeout=True,
            health_check_interval=30,
            max_connections=256,
        )
        return cls(
            settings=settings,
            redis=redis,
            schedule=SyncSchedule(redis),
            eventlog=EventLog(redis),
            states=AccountStates(redis),
            triggers=TriggerBatcher(redis),
            subscriptions=SubscriptionStore(redis),
            deliveries=DeliveryStore(redis),
        )

    async def close(self) -> None:
        await self.redis.aclose()
