"""Fan-out: every logged event becomes one delivery per matching enabled subscription.

The event log is read through a Redis consumer group (`service.state.eventlog.FanoutFeed`), so each event
is fanned out by one worker, and an event whose worker died before acknowledging it is claimed by another
after `reclaim_idle_ms`. Entries are acknowledged only after their deliveries exist; creating a delivery is
idempotent (see `service.state.deliveries`), so fanning an event out twice after a crash is harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

import structlog
from opentelemetry.trace import Span
from redis.exceptions import RedisError

from service.state.deliveries import DeliveryStore
from service.state.eventlog import FanoutFeed, GroupEntry, GroupMissing
from service.tracing import TRACING, parent_and_links
from workers.clock import now_ms
from workers.delivery.bodies import BodyCache
from workers.delivery.subscription_cache import SubscriptionCache

log = structlog.get_logger("relay.fanout")

READ_COUNT = 500
BLOCK_MS = 1000
#: An entry read this long ago and not acknowledged belongs to a worker presumed dead.
RECLAIM_IDLE_MS = 30_000
RECLAIM_EVERY_S = 10.0


def fanout_span(event_id: str, event_type: str, trace: str, subscriptions: int) -> Span:
    """The fan-out of one traced event, in the event's trace (ended once its deliveries exist)."""
    parent, _ = parent_and_links([trace])
    attributes: dict[str, str | int] = {
        "relay.event_id": event_id,
        "relay.event_type": event_type,
        "relay.subscriptions": subscriptions,
    }
    return TRACING.tracer.start_span("fan-out", context=parent, attributes=attributes)


class Fanout:
    def __init__(
        self,
        *,
        feed: FanoutFeed,
        cache: SubscriptionCache,
        store: DeliveryStore,
        bodies: BodyCache,
        wake: Callable[[Iterable[str]], None],
        consumer: str,
        reclaim_idle_ms: int = RECLAIM_IDLE_MS,
    ) -> None:
        self._feed = feed
        self._cache = cache
        self._store = store
        self._bodies = bodies
        self._wake = wake
        self._consumer = consumer
        self._reclaim_idle_ms = reclaim_idle_ms

    async def run_forever(self) -> None:
        last_reclaim = 0.0
        group_ready = False
        while True:
            try:
                if not group_ready:
                    await self._feed.ensure_group()
                    group_ready = True
                if time.monotonic() - last_reclaim > RECLAIM_EVERY_S:
                    await self.reclaim()
                    last_reclaim = time.monotonic()
                await self.process(await self._feed.read(self._consumer, READ_COUNT, BLOCK_MS))
            except GroupMissing as exc:
                # The log or its group vanished (a Redis that lost its data): create them again.
                log.warning("fanout_group_missing", error=str(exc))
                group_ready = False
                await asyncio.sleep(1.0)
            except RedisError as exc:
                log.warning("fanout_redis_error", error=str(exc))
                await asyncio.sleep(1.0)

    async def process(self, entries: list[GroupEntry]) -> None:
        """Create the entries' deliveries, then acknowledge them: a crash in between leaves them pending in the
        group, for `reclaim` to fan out again."""
        if not entries:
            return
        await self._cache.refresh()
        pairs: list[tuple[str, str]] = []
        spans: list[Span] = []
        for entry in entries:
            event = entry.event
            if event is None:
                continue
            self._bodies.remember(event.event_id, event.body, event.trace)
            matching = self._cache.matching(event.account, event.type)
            pairs += [(subscription.id, event.event_id) for subscription in matching]
            if TRACING.on and event.trace:
                spans.append(fanout_span(event.event_id, event.type, event.trace, len(matching)))
        try:
            touched = await self._store.fan_out(pairs, now_ms())
            await self._feed.ack([entry.entry_id for entry in entries])
        finally:
            for span in spans:
                span.end()
        self._wake(touched)

    async def reclaim(self) -> None:
        """Take over events that a dead worker read but never acknowledged."""
        start = "0-0"
        while True:
            start, entries = await self._feed.reclaim(self._consumer, self._reclaim_idle_ms, start, READ_COUNT)
            if entries:
                log.info("fanout_reclaimed", events=len(entries))
                await self.process(entries)
            if start == "0-0":
                return
