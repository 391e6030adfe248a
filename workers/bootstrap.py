"""What a worker process shares between its jobs, built once at start-up and kept in arq's `ctx`."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from redis.asyncio import Redis

from contracts.wire import HttpRequest, HttpResponse
from service.config import Settings
from service.state.account_state import AccountStates
from service.state.deliveries import DeliveryStore
from service.state.eventlog import EventLog
from service.state.scheduling import SyncSchedule
from service.state.subscriptions import SubscriptionStore
from workers.delivery.subscription_cache import SubscriptionCache
from workers.delivery.webhook_client import WebhookClient
from workers.sync.provider_http import new_client, send
from workers.sync.sessions import Sessions
from workers.sync.source_cache import SourceCache


@dataclass
class WorkerDeps:
    settings: Settings
    redis: Redis
    http: aiohttp.ClientSession
    schedule: SyncSchedule
    eventlog: EventLog
    states: AccountStates
    sessions: Sessions
    subscriptions: SubscriptionStore
    subscription_cache: SubscriptionCache
    deliveries: DeliveryStore
    webhook_client: WebhookClient
    sources: SourceCache

    @classmethod
    def build(cls, settings: Settings, redis: Redis) -> WorkerDeps:
        http = new_client(settings.provider_timeout)
        subscriptions = SubscriptionStore(redis)
        return cls(
            settings=settings,
            redis=redis,
            http=http,
            schedule=SyncSchedule(redis),
            eventlog=EventLog(redis),
            states=AccountStates(redis),
            sessions=Sessions(http),
            subscriptions=subscriptions,
            subscription_cache=SubscriptionCache(subscriptions),
            deliveries=DeliveryStore(redis),
            sources=SourceCache(),
            webhook_client=WebhookClient(allow_private=settings.allow_private_urls, timeout=settings.delivery_timeout),
        )

    @property
    def lease_ms(self) -> int:
        return int(self.settings.sync_lease * 1000)

    async def send(self, request: HttpRequest) -> HttpResponse:
        return await send(self.http, request)

    async def close(self) -> None:
        await self.http.close()
        await self.webhook_client.close()
