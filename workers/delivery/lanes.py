"""Delivery lanes: one per enabled subscription in each worker process, so that a slow or dead subscriber
only ever holds up its own lane (isolation).

A lane claims due deliveries in batches (one script call), sends them concurrently over the shared
webhook client, and records outcomes in coalesced batches. Nothing here is one arq job per delivery:
arq's ~6 round trips and queue polling per job would cap a worker near its measured ~1,100 jobs/s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from redis.exceptions import RedisError

from contracts.times import format_time
from service.metrics import DELIVERY_ATTEMPTS, DELIVERY_SECONDS
from service.state.coalesce import Coalescer
from service.state.deliveries import DELIVERED, FAILED, PENDING, ClaimBatch, Claimed, DeliveryStore, Outcome
from service.state.subscriptions import Subscription
from workers.clock import now_ms
from workers.delivery.bodies import BodyCache
from workers.delivery.retry_plan import plan_next
from workers.delivery.webhook_client import WebhookClient
from workers.delivery.webhook_sender import send_event

log = structlog.get_logger("relay.delivery")

#: A lane with nothing to send this long lets its sender tasks go (an idle worker of 1,000 subscriptions
#: keeps one waiting task per lane, not 64).
SENDER_IDLE_S = 1.0
#: The shortest pause of a lane its subscription's rate limit holds back.
THROTTLED_MIN_S = 0.01
#: The attempt counter's children, bound once rather than looked up per attempt.
ATTEMPT_OUTCOMES = {
    DELIVERED: DELIVERY_ATTEMPTS.labels("delivered"),
    PENDING: DELIVERY_ATTEMPTS.labels("retry"),
    FAILED: DELIVERY_ATTEMPTS.labels("failed"),
    "disabled": DELIVERY_ATTEMPTS.labels("disabled"),
}


@dataclass(frozen=True, slots=True)
class LaneContext:
    """What every lane of a worker shares."""

    store: DeliveryStore
    bodies: BodyCache
    client: WebhookClient
    retry_schedule: tuple[int, ...]
    #: How long a claimed delivery stays claimed: past it, a delivery whose worker died comes due again.
    lease_ms: int
    #: Attempts in flight per lane (RELAY_DELIVERY_CONCURRENCY).
    width: int
    #: Called with the subscription id when its subscriber answered 410 Gone.
    on_gone: Callable[[str], None]


class Lane:
    """One claiming loop and up to `width` sender coroutines fed through a queue: started when work is
    claimed, kept while work keeps coming (a task per attempt measured as a visible share of the delivery
    path's CPU), let go after SENDER_IDLE_S without work. An idle lane sends nothing to Redis: it waits to be
    woken, by the fan-out or by the pool when the due index says its subscription has work."""

    def __init__(self, context: LaneContext, subscription: Subscription) -> None:
        self.context = context
        self.subscription = subscription
        #: The fingerprint of the stored copy `subscription` was read from ('' until a claim returned one).
        self.fingerprint = ""
        self.woken = asyncio.Event()
        self.slots_free = asyncio.Event()
        #: Claimed deliveries not yet finished: queued for a sender or being sent.
        self.busy = 0
        #: Claimed deliveries for the senders; None tells a sender to end (`retire`).
        self.queue: asyncio.Queue[tuple[Claimed, bytes | None, list[bytes]] | None] = asyncio.Queue()
        self.outcomes: Coalescer[Outcome] = Coalescer(self._record)
        self.width = context.width
        self.senders: set[asyncio.Task[None]] = set()
        self.task = asyncio.create_task(self._run(), name=f"lane-{subscription.id}")

    def stop(self) -> None:
        # Claimed deliveries left unsent come due again when their lease ends (at least once).
        for task in (self.task, *self.senders):
            task.cancel()

    def retire(self) -> None:
        """Claim no more; what is claimed is still sent and its outcome recorded (for a subscription disabled or
        deleted meanwhile, as failed), then the senders end: an attempt already on the wire is not lost from
        the delivery's history."""
        self.task.cancel()
        for _ in self.senders:
            self.queue.put_nowait(None)

    async def _run(self) -> None:
        structlog.contextvars.bind_contextvars(subscription_id=self.subscription.id)
        while True:
            try:
                await self._step()
            except RedisError as exc:
                log.warning("lane_redis_error", error=str(exc))
                await asyncio.sleep(1.0)

    async def _step(self) -> None:
        # Cleared before the claim: a wake-up that lands during the claim is not lost.
        self.woken.clear()
        free = self.width - self.busy
        claimed = (
            await self.context.store.claim(
                self.subscription.id, now_ms(), self.context.lease_ms, free, known=self.fingerprint
            )
            if free
            else ClaimBatch(())
        )
        if claimed.subscription is not None:
            # Changed since this lane's copy (a rotated secret, a new URL): applies to what this claim took.
            self.subscription = Subscription.from_json(claimed.subscription)
            self.fingerprint = claimed.fingerprint
        if claimed:
            bodies = await self.context.bodies.bodies([c.event_id for c in claimed])
            keys = self.subscription.signing_keys(datetime.now(UTC))
            self.busy += len(claimed)
            for delivery in claimed:
                self.queue.put_nowait((delivery, bodies.get(delivery.event_id), keys))
            self._start_senders()
        if self.busy >= self.width // 2:
            # Claim again once half the lane is free: one claim per batch, not one per finished attempt.
            self.slots_free.clear()
            if self.busy >= self.width // 2:
                await self.slots_free.wait()
        elif claimed.throttled_s:
            # The rate limit held deliveries back: claim again when the next may go, not sooner (every
            # worker's lane would otherwise poll Redis hot), and at least a few ms on so that claims take more
            # than one delivery each at high rates.
            await asyncio.sleep(max(claimed.throttled_s, THROTTLED_MIN_S))
        elif len(claimed) < free:
            await self._idle()

    def _start_senders(self) -> None:
        while len(self.senders) < min(self.width, self.busy):
            task = asyncio.create_task(self._send_loop())
            self.senders.add(task)
            task.add_done_callback(self.senders.discard)

    async def _idle(self) -> None:
        """Wait to be woken; after SENDER_IDLE_S with nothing in hand, without the senders."""
        if self.busy == 0 and self.senders:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), SENDER_IDLE_S)
                return
            # Only this loop hands out work, and none is in hand: every sender waits on the empty queue.
            for task in self.senders:
                task.cancel()
            self.senders.clear()
        await self.woken.wait()

    async def _send_loop(self) -> None:
        while (work := await self.queue.get()) is not None:
            delivery, body, keys = work
            try:
                await self._attempt(delivery, body, keys)
            except RedisError as exc:  # the outcome stays unrecorded: the lease brings the delivery back
                log.warning("delivery_outcome_not_recorded", event_id=delivery.event_id, error=str(exc))
            except Exception:  # a bug in one attempt must not take a sender with it
                log.exception("delivery_attempt_crashed", event_id=delivery.event_id)
            finally:
                self.busy -= 1
                if self.busy < self.width // 2:
                    self.slots_free.set()

    async def _attempt(self, delivery: Claimed, body: bytes | None, keys: list[bytes]) -> None:
        subscription = self.subscription
        if body is None:
            # The event is no longer in the log (trimmed): nothing left to send, ever.
            attempt = {"at": format_time(datetime.now(UTC)), "status_code": None, "error": "event not in the log"}
            await self.outcomes.submit(Outcome(delivery.event_id, FAILED, None, attempt | {"latency_ms": 0}))
            return
        result = await send_event(
            self.context.client, subscription.url, event_id=delivery.event_id, body=body, keys=keys
        )
        plan = plan_next(result, delivery.tries, self.context.retry_schedule, result.at)
        if result.succeeded:
            log.debug(
                "delivered", event_id=delivery.event_id, status_code=result.status_code, latency_ms=result.latency_ms
            )
        else:
            (log.warning if plan.status == FAILED else log.info)(
                "delivery_attempt_failed",
                event_id=delivery.event_id,
                status_code=result.status_code,
                error=result.error,
                attempt=delivery.tries + 1,
                outcome=plan.status,
            )
        ATTEMPT_OUTCOMES["disabled" if plan.disable else plan.status].inc()
        DELIVERY_SECONDS.observe(result.latency_ms / 1000)
        await self.outcomes.submit(Outcome(delivery.event_id, plan.status, plan.next_due_ms, result.as_json()))
        if plan.disable:
            self.context.on_gone(subscription.id)

    async def _record(self, outcomes: list[Outcome]) -> None:
        await self.context.store.record(self.subscription.id, outcomes)
