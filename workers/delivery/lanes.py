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
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import structlog
from opentelemetry.trace import Span, SpanKind, StatusCode
from redis.exceptions import RedisError

from contracts.operational import OperationalEvent, delivery_exhausted, is_operational
from contracts.standard_webhooks import SECRET_PREFIX
from contracts.times import format_time
from service.metrics import DELIVERY_ATTEMPTS, DELIVERY_SECONDS
from service.state.coalesce import Coalescer
from service.state.deliveries import DELIVERED, FAILED, PENDING, ClaimBatch, Claimed, DeliveryStore, Outcome
from service.state.subscriptions import Subscription
from service.tracing import TRACING, parent_and_links
from workers.clock import now_ms
from workers.delivery.bodies import BodyCache
from workers.delivery.retry_plan import plan_next
from workers.delivery.webhook_client import WebhookClient
from workers.delivery.webhook_sender import AttemptResult, send_event

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


def _host(url: str) -> str | None:
    """The URL's host for log lines; None for a URL that does not parse (its attempts say why)."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


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
    #: RELAY_DISABLE_AFTER in ms: a subscriber failing with no success this long gets its subscription disabled.
    disable_after_ms: int
    #: Called with the subscription id and when its failing began, once that is `disable_after_ms` ago.
    on_failing: Callable[[str, int], None]


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
        self.queue: asyncio.Queue[tuple[Claimed, tuple[bytes, str] | None, list[bytes]] | None] = asyncio.Queue()
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

    @property
    def subscription(self) -> Subscription:
        return self._subscription

    @subscription.setter
    def subscription(self, subscription: Subscription) -> None:
        """A new URL or secret applies from the next claim."""
        self._subscription = subscription
        # Bound to the logger, not to the context: every line of the lane says whose it is, whichever task
        # logs it (the claiming loop or a sender).
        self.log = log.bind(subscription_id=subscription.id, host=_host(subscription.url))

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except RedisError as exc:
                self.log.warning("lane_redis_error", error=str(exc))
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
            events = await self.context.bodies.bodies([c.event_id for c in claimed])
            keys = self.subscription.signing_keys(datetime.now(UTC))
            self.busy += len(claimed)
            for delivery in claimed:
                self.queue.put_nowait((delivery, events.get(delivery.event_id), keys))
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
            delivery, event, keys = work
            try:
                await self._attempt(delivery, event, keys)
            except RedisError as exc:  # the outcome stays unrecorded: the lease brings the delivery back
                self.log.warning("delivery_outcome_not_recorded", event_id=delivery.event_id, error=str(exc))
            except Exception:  # a bug in one attempt must not take a sender with it
                self.log.exception("delivery_attempt_crashed", event_id=delivery.event_id)
            finally:
                self.busy -= 1
                if self.busy < self.width // 2:
                    self.slots_free.set()

    async def _attempt(self, delivery: Claimed, event: tuple[bytes, str] | None, keys: list[bytes]) -> None:
        subscription = self.subscription
        if event is None:
            # The event is no longer in the log (trimmed): nothing left to send, ever.
            missing = {"at": format_time(datetime.now(UTC)), "status_code": None, "error": "event not in the log"}
            await self.outcomes.submit(Outcome(delivery.event_id, FAILED, None, missing | {"latency_ms": 0}))
            return
        body, trace = event
        if TRACING.on:
            with attempt_span(subscription, delivery, trace) as span:
                result = await self._send(delivery, body, keys)
                span.set_attribute("http.response.status_code", result.status_code or 0)
                if result.error:
                    span.set_status(StatusCode.ERROR, result.error)
        else:
            result = await self._send(delivery, body, keys)
        plan = plan_next(result, delivery.tries, self.context.retry_schedule, result.at)
        if result.succeeded:
            self.log.debug(
                "delivered", event_id=delivery.event_id, status_code=result.status_code, latency_ms=result.latency_ms
            )
        else:
            (self.log.warning if plan.status == FAILED else self.log.info)(
                "delivery_attempt_failed",
                event_id=delivery.event_id,
                status_code=result.status_code,
                error=result.error,
                attempt=delivery.tries + 1,
                outcome=plan.status,
            )
        ATTEMPT_OUTCOMES["disabled" if plan.disable else plan.status].inc()
        DELIVERY_SECONDS.observe(result.latency_ms / 1000)
        attempt = result.as_json()
        exhausted = None
        if plan.status == FAILED and not plan.disable:
            exhausted = exhaustion_report(subscription.id, delivery, body, attempt)
        await self.outcomes.submit(
            Outcome(delivery.event_id, plan.status, plan.next_due_ms, attempt, result.succeeded, exhausted)
        )
        if plan.disable:
            self.context.on_gone(subscription.id)

    async def _send(self, delivery: Claimed, body: bytes, keys: list[bytes]) -> AttemptResult:
        subscription = self.subscription
        result = await send_event(
            self.context.client, subscription.url, event_id=delivery.event_id, body=body, keys=keys
        )
        return replace(result, response=redacted(result.response, subscription))

    async def _record(self, outcomes: list[Outcome]) -> None:
        failing_since = await self.context.store.record(self.subscription.id, outcomes)
        if failing_since is not None and now_ms() - failing_since >= self.context.disable_after_ms:
            self.context.on_failing(self.subscription.id, failing_since)


def attempt_span(subscription: Subscription, delivery: Claimed, trace: str) -> AbstractContextManager[Span]:
    """One delivery attempt, in its event's trace (a root span when the event was logged untraced)."""
    parent, _ = parent_and_links([trace])
    attributes: dict[str, str | int] = {
        "relay.subscription_id": subscription.id,
        "relay.event_id": delivery.event_id,
        "relay.attempt": delivery.tries + 1,
        "server.address": urlsplit(subscription.url).hostname or "",
    }
    return TRACING.tracer.start_as_current_span(
        "delivery attempt", context=parent, kind=SpanKind.CLIENT, attributes=attributes
    )


def redacted(response: str | None, subscription: Subscription) -> str | None:
    """An answer as the delivery log keeps it: a subscriber echoing a signing secret back does not get it
    stored (the log is shown to operators and in the console)."""
    if not response:
        return response
    for signing in subscription.secrets:
        for form in (signing.secret, signing.secret.removeprefix(SECRET_PREFIX)):
            response = response.replace(form, "[redacted]")
    return response


def exhaustion_report(
    subscription_id: str, delivery: Claimed, body: bytes, attempt: dict[str, Any]
) -> OperationalEvent | None:
    """The `relay.delivery.exhausted` event for a delivery that used its last attempt; None for the delivery of
    an operational event (a failed one raises no further operational event)."""
    event_type: str = orjson.loads(body)["type"]
    if is_operational(event_type):
        return None
    return delivery_exhausted(
        subscription_id=subscription_id,
        event_id=delivery.event_id,
        event_type=event_type,
        attempts=delivery.tries + 1,
        last_attempt=attempt,
        at=datetime.now(UTC),
    )
