"""Every Redis key the relay uses, in one place. All keys share the `relay:` prefix."""

from __future__ import annotations

PREFIX = "relay:"

#: ZSET account -> unix ms at which the account's next sync is due. Triggers lower the score (ZADD LT),
#: a running sync pushes it to the end of its lease, a finished sync sets the next poll time.
SYNC_DUE = PREFIX + "sync:due"
#: HASH written once into a Redis holding the relay's state (see `service.state.marker`).
STATE_MARKER = PREFIX + "state"
#: Pub/sub channel (not a key): a message whenever an account is made due now, so that idle dispatchers
#: wake at once instead of polling the schedule.
SYNC_WAKE = PREFIX + "sync:wake"
#: STREAM of every recorded change: fields id, account, type, body, and for an invoice's event invoice (its
#: key) and seq (its `data.sequence`), which per-invoice ordering reads (entries from before lack them).
EVENTS = PREFIX + "events"
#: HASH event id -> stream entry id of that event in EVENTS.
EVENT_INDEX = PREFIX + "events:index"
#: STRING held (with a lease) by the one worker trimming the log (see `service.state.retention`).
RETENTION_LOCK = PREFIX + "retention:lock"


def seen_callback(account: str, delivery_id: str) -> str:
    """STRING marking a provider notification id as received, for the signature tolerance window."""
    return f"{PREFIX}seen:{account}:{delivery_id}"


def sync_lock(account: str) -> str:
    """STRING holding the claim token of the sync that owns the account, with a lease (PX)."""
    return f"{PREFIX}sync:lock:{account}"


def snapshots(account: str) -> str:
    """HASH invoice_id -> encoded `contracts.changes.Snapshot`."""
    return f"{PREFIX}snap:{account}"


def snapshot_stamp(account: str) -> str:
    """String: a token replaced by every commit that writes one of the account's snapshots."""
    return f"{PREFIX}snap-stamp:{account}"


def sync_hints(account: str) -> str:
    """HASH invoice id -> unix ms of the latest callback naming it: invoices to read back at the next sync."""
    return f"{PREFIX}hints:{account}"


def sync_traces(account: str) -> str:
    """LIST of traceparents of the callbacks waiting for the account's next sync (only with tracing on)."""
    return f"{PREFIX}sync:traces:{account}"


def account_state(account: str) -> str:
    """HASH of the account's sync state: last_sync_at, last_sync_status, last_error, baseline_done, and what
    `service.state.sync_work` keeps (full_requested_ms, last_full_ms, last_narrow_ms)."""
    return f"{PREFIX}account:{account}"


#: HASH subscription id -> subscription JSON (with its secrets).
SUBSCRIPTIONS = PREFIX + "subs"
#: STRING counter bumped on every subscription change: workers reload their cached copy when it moves.
SUBSCRIPTIONS_VERSION = PREFIX + "subs:version"
#: STRING, a random token set by the first change after the counter was created: a counter that restarted
#: from zero (Redis lost its data) can land on a value it had before, the pair of both cannot.
SUBSCRIPTIONS_EPOCH = PREFIX + "subs:epoch"
#: Consumer group of EVENTS that fans events out to subscriptions.
FANOUT_GROUP = "fanout"


#: ZSET subscription id -> the earliest due time in its delivery queue (absent when the queue is empty): what
#: workers read to know which lanes have work, one read for any number of subscriptions.
DELIVERIES_DUE = PREFIX + "deliveries:due"


def delivery_queue(subscription_id: str) -> str:
    """ZSET event id -> unix ms when its next attempt is due (or when an in-flight attempt's lease ends)."""
    return f"{PREFIX}sub:{subscription_id}:due"


def delivery_records(subscription_id: str) -> str:
    """HASH event id -> delivery JSON (status, attempts)."""
    return f"{PREFIX}sub:{subscription_id}:deliveries"


def delivery_health(subscription_id: str) -> str:
    """HASH: `failing_since`, unix ms of the first failed attempt since the subscriber last answered 2xx."""
    return f"{PREFIX}sub:{subscription_id}:health"


def delivery_order(subscription_id: str) -> str:
    """ZSET event id -> unix ms the delivery was created, for listing newest first."""
    return f"{PREFIX}sub:{subscription_id}:order"


def delivery_pending_since(subscription_id: str) -> str:
    """ZSET event id -> unix ms the delivery was created or replayed, for the deliveries still pending only:
    the oldest pending delivery's age in one read."""
    return f"{PREFIX}sub:{subscription_id}:pending-since"


def delivery_stats(subscription_id: str) -> str:
    """HASH of the subscription's delivery counters: `attempts:delivered`, `attempts:retry`, `attempts:failed`
    (attempts by outcome) and `dead_lettered` (deliveries that ended failed). They only grow (Prometheus
    counters), whichever worker recorded the outcome."""
    return f"{PREFIX}sub:{subscription_id}:stats"


#: ZSET worker id -> unix ms of the worker's latest metrics publication (see `service.state.worker_metrics`).
WORKER_METRICS_INDEX = PREFIX + "metrics:workers"


def worker_metrics(worker_id: str) -> str:
    """HASH of one worker's published metrics: `samples` (JSON) and `at` (unix ms); expires unless refreshed."""
    return f"{PREFIX}metrics:worker:{worker_id}"


#: arq's queue of jobs (its default queue name): sync jobs queued and not started yet.
ARQ_QUEUE = "arq:queue"


def delivery_rate(subscription_id: str) -> str:
    """STRING, the subscription's rate limiter: the unix ms (fractional) at which its attempts caught up with
    the rate (a GCRA theoretical arrival time), expiring once it is past."""
    return f"{PREFIX}sub:{subscription_id}:rate"


def delivery_heads(subscription_id: str) -> str:
    """HASH invoice key -> the event id of that invoice's delivery under way (due, retrying or in flight), for a
    subscription with `ordering: invoice`."""
    return f"{PREFIX}sub:{subscription_id}:heads"


def delivery_lines(subscription_id: str) -> str:
    """ZSET, all scores 0, of `<invoice key>\\0<sequence, 12 digits>\\0<event id>`: deliveries waiting behind
    their invoice's head, in lexical order, that is by invoice then sequence. Each is also in the delivery
    queue, due never (+inf), so that retention, counts and fail-all see it."""
    return f"{PREFIX}sub:{subscription_id}:lines"


def per_minute(kind: str) -> str:
    """HASH minute (unix seconds // 60) -> how many of `kind` (callbacks, syncs, events, deliveries) happened in
    it, for the console's charts: counted by the scripts that write each thing, old minutes dropped as new ones
    start, the whole hash expiring after an idle hour and more (see `service.state.per_minute`)."""
    return f"{PREFIX}per-minute:{kind}"
