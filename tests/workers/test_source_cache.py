"""The worker's cache of snapshot source digests: trusted only while the account's snapshot stamp is the
one this worker last set or saw."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from redis.asyncio import Redis

from contracts.changes import detect_change
from contracts.model import Invoice, Status
from service.eventlog import CommitResult, EventLog, PendingChange
from workers.source_cache import SourceCache


def test_what_a_worker_learned_is_kept_while_only_it_writes() -> None:
    cache = SourceCache()
    known = cache.open("shop", "s0")
    known.settle({"a": "d-a"}, {"b": "d-b"}, CommitResult(1, 1, 0, previous_stamp="s0"), "s1")
    assert (known.valid, known.stamp, known.digests) == (True, "s1", {"a": "d-a", "b": "d-b"})
    known.settle({"c": "d-c"}, {}, CommitResult(0, 0, 0), "unused")  # nothing committed: the stamp stays
    assert known.stamp == "s1"
    again = cache.open("shop", "s1")
    assert again is known
    assert again.digests == {"a": "d-a", "b": "d-b", "c": "d-c"}


def test_another_writer_between_syncs_empties_it() -> None:
    cache = SourceCache()
    known = cache.open("shop", "s0")
    known.settle({"a": "d-a"}, {}, CommitResult(0, 0, 0), "unused")
    fresh = cache.open("shop", "someone-else")
    assert fresh is not known
    assert fresh.digests == {}


def test_another_writer_during_a_sync_empties_it_for_the_rest_of_the_sync() -> None:
    known = SourceCache().open("shop", "s0")
    known.settle({"a": "d-a"}, {}, CommitResult(0, 0, 0), "unused")
    known.settle({"b": "d-b"}, {"c": "d-c"}, CommitResult(1, 1, 0, previous_stamp="someone-else"), "s1")
    assert (known.valid, known.digests) == (False, {})
    known.settle({"d": "d-d"}, {}, CommitResult(0, 0, 0), "unused")
    assert known.digests == {}


def test_a_conflict_empties_it() -> None:
    known = SourceCache().open("shop", "s0")
    known.settle({}, {"a": "d-a", "b": "d-b"}, CommitResult(1, 1, 1, previous_stamp="s0"), "s1")
    assert (known.valid, known.digests) == (False, {})


def test_size_is_bounded_by_dropping_the_account_synced_longest_ago() -> None:
    cache = SourceCache(max_entries=3)
    old = cache.open("old", "s")
    old.settle({"a": "1", "b": "2"}, {}, CommitResult(0, 0, 0), "unused")
    new = cache.open("new", "s")
    new.settle({"c": "3", "d": "4"}, {}, CommitResult(0, 0, 0), "unused")
    cache.open("new", "s")
    assert not old.valid
    assert cache.open("old", "s").digests == {}
    assert cache.open("new", "s") is new
    huge = cache.open("huge", "s")
    huge.settle({str(n): "x" for n in range(4)}, {}, CommitResult(0, 0, 0), "unused")
    assert (huge.valid, huge.digests) == (False, {})


async def test_a_commit_that_writes_replaces_the_account_stamp_and_returns_the_one_before(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    eventlog = EventLog(redis)
    invoice = Invoice(
        account="stamped",
        provider="cryptocloud",
        invoice_id="INV-1",
        status=Status.PENDING,
        provider_status="created",
        amount=Decimal("1.00"),
        amount_paid=None,
        currency="USD",
    )
    change = detect_change(None, invoice, observed_at=datetime.now(UTC))
    assert change is not None
    assert await eventlog.snapshot_stamp("stamped") == ""
    first = await eventlog.commit("stamped", [PendingChange("INV-1", "", change)], "one")
    assert (first.written, first.previous_stamp) == (1, "")
    assert await eventlog.snapshot_stamp("stamped") == "one"
    conflict = await eventlog.commit("stamped", [PendingChange("INV-1", "", change)], "two")
    assert (conflict.written, conflict.conflicts, conflict.previous_stamp) == (0, 1, "one")
    assert await eventlog.snapshot_stamp("stamped") == "one"  # nothing written: the stamp stays
    await redis.aclose()
