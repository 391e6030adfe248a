"""Starting and stopping delivery lanes as subscriptions come, go, and are enabled or disabled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import structlog
from redis.exceptions import RedisError

from contracts.operational import FAILING, GONE
from service.state.deliveries import DeliveryStore
from service.state.eventlog import EventLog
from service.state.subscriptions import Subscription, SubscriptionStore
from workers.clock import now_ms
from workers.delivery.bodies import BodyCache
from workers.delivery.disabling import Disabler
from workers.delivery.lanes import Lane, LaneContext
from workers.delivery.subscription_cache import SubscriptionCache
from workers.delivery.webhook_client import WebhookClient

log = structlog.get_logger("relay.delivery")

#: How often the pool checks for subscription changes.
REFRESH_S = 0.25
#: How often the pool reads which subscriptions have a delivery due (a retry coming due, a delivery another
#: worker fanned out or a replay queued): the latency those add, for one Redis read per worker.
DUE_POLL_S = 0.1


class DeliveryPool:
    def __init__(
        self,
        *,
        cache: SubscriptionCache,
        subscriptions: SubscriptionStore,
        store: DeliveryStore,
        bodies: BodyCache,
        client: WebhookClient,
        retry_schedule: tuple[int, ...],
        timeout: float,
        concurrency: int,
        disable_after_s: int,
        eventlog: EventLog,
    ) -> None:
        self._cache = cache
        self._disabler = Disabler(subscriptions, store, eventlog, on_disabled=self.retire_lane)
        self._context = LaneContext(
            store=store,
            bodies=bodies,
            client=client,
            retry_schedule=retry_schedule,
            # An attempt's claim outlives its timeout with room to record the outcome.
            lease_ms=int((timeout + 10.0) * 1000),
            width=concurrency,
            on_gone=self._gone,
            disable_after_ms=disable_after_s * 1000,
            on_failing=self._failing,
        )
        self.lanes: dict[str, Lane] = {}
        self._lanes_from: dict[str, Subscription] | None = None

    async def run_forever(self) -> None:
        refreshed_at = 0.0
        while True:
            try:
                if time.monotonic() - refreshed_at >= REFRESH_S:
                    await self.refresh()
                    refreshed_at = time.monotonic()
                self.wake(await self._context.store.due_subscriptions(now_ms()))
            except RedisError as exc:
                log.warning("delivery_refresh_failed", error=str(exc))
            await asyncio.sleep(DUE_POLL_S)

    async def refresh(self) -> None:
        await self._cache.refresh()
        # The fan-out reloads the same cache: whoever reloaded it, lanes start and stop with each new copy (a
        # new, disabled or deleted subscription), not only the copies this loop loaded.
        if self._cache.subscriptions is not self._lanes_from:
            self._lanes_from = self._cache.subscriptions
            self.sync_lanes()

    def sync_lanes(self) -> None:
        wanted = {s.id: s for s in self._cache.subscriptions.values() if s.enabled}
        for subscription_id in list(self.lanes):
            if subscription_id not in wanted:
                self.retire_lane(subscription_id)
        for subscription_id, subscription in wanted.items():
            # A lane's own claims keep its copy current (a new URL or secret applies from the next claim).
            if subscription_id not in self.lanes:
                self.lanes[subscription_id] = Lane(self._context, subscription)

    def wake(self, subscription_ids: Iterable[str]) -> None:
        for subscription_id in subscription_ids:
            lane = self.lanes.get(subscription_id)
            if lane is not None:
                lane.woken.set()

    def retire_lane(self, subscription_id: str) -> None:
        """The subscription was disabled or deleted: its lane claims no more and finishes what it holds."""
        lane = self.lanes.pop(subscription_id, None)
        if lane is not None:
            lane.retire()

    def stop_lane(self, subscription_id: str) -> None:
        lane = self.lanes.pop(subscription_id, None)
        if lane is not None:
            lane.stop()

    def _gone(self, subscription_id: str) -> None:
        self._disabler.disable_soon(subscription_id, reason=GONE, failing_since_ms=None)

    def _failing(self, subscription_id: str, failing_since_ms: int) -> None:
        self._disabler.disable_soon(subscription_id, reason=FAILING, failing_since_ms=failing_since_ms)

    def close(self) -> None:
        """Stop every lane. Claimed deliveries left unsent come due again when their lease ends."""
        for subscription_id in list(self.lanes):
            self.stop_lane(subscription_id)
