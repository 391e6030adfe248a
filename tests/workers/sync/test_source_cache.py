"""The worker's cache of what its snapshots were made from: trusted only while the account's snapshot stamp
is the one this worker last set or saw."""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from contracts.changes import detect_change
from contracts.records import loads_records
from service.state.eventlog import CommitResult, EventLog, PendingChange
from tests.service import support
from workers.sync.source_cache import SourceCache, bytes_hash


def test_what_a_worker_learned_is_kept_while_only_it_writes() -> None:
    cache = SourceCache()
    known = cache.open("shop", "s0")
    known.settle({"a": 1}, {"b": 2}, CommitResult(1, 1, 0, previous_stamp="s0"), "s1")
    assert (known.valid, known.stamp, known.hashes) == (True, "s1", {"a": 1, "b": 2})
    known.settle({"c": 3}, {}, CommitResult(0, 0, 0), "unused")  # nothing committed: the stamp stays
    assert known.stamp == "s1"
    again = cache.open("shop", "s1")
    assert again is known
    assert again.hashes == {"a": 1, "b": 2, "c": 3}


def test_another_writer_between_syncs_empties_it() -> None:
    cache = SourceCache()
    known = cache.open("shop", "s0")
    known.settle({"a": 1}, {}, CommitResult(0, 0, 0), "unused")
    fresh = cache.open("shop", "someone-else")
    assert fresh is not known
    assert fresh.hashes == {}


def test_another_writer_during_a_sync_empties_it_for_the_rest_of_the_sync() -> None:
    known = SourceCache().open("shop", "s0")
    known.settle({"a": 1}, {}, CommitResult(0, 0, 0), "unused")
    known.settle({"b": 2}, {"c": 3}, CommitResult(1, 1, 0, previous_stamp="someone-else"), "s1")
    assert (known.valid, known.hashes) == (False, {})
    known.settle({"d": 4}, {}, CommitResult(0, 0, 0), "unused")
    assert known.hashes == {}


def test_a_committed_record_without_a_hash_is_forgotten() -> None:
    known = SourceCache().open("shop", "s0")
    known.settle({"a": 1, "b": 2}, {"a": None}, CommitResult(1, 1, 0, previous_stamp="s0"), "s1")
    assert known.hashes == {"b": 2}


def test_the_hash_is_of_the_record_bytes_as_received() -> None:
    [first, second, same_as_first] = loads_records(b'[{"id": 1}, {"id": 2}, {"id": 1}]')
    assert bytes_hash(first) == bytes_hash(same_as_first) != bytes_hash(second)
    assert bytes_hash({"id": 1}) is None  # not raw bytes: never cached


def test_a_conflict_empties_it() -> None:
    known = SourceCache().open("shop", "s0")
    known.settle({}, {"a": 1, "b": 2}, CommitResult(1, 1, 1, previous_stamp="s0"), "s1")
    assert (known.valid, known.hashes) == (False, {})


def test_size_is_bounded_by_dropping_the_account_synced_longest_ago() -> None:
    cache = SourceCache(max_entries=3)
    old = cache.open("old", "s")
    old.settle({"a": 1, "b": 2}, {}, CommitResult(0, 0, 0), "unused")
    new = cache.open("new", "s")
    new.settle({"c": 3, "d": 4}, {}, CommitResult(0, 0, 0), "unused")
    cache.open("new", "s")
    assert not old.valid
    assert cache.open("old", "s").hashes == {}
    assert cache.open("new", "s") is new
    huge = cache.open("huge", "s")
    huge.settle({str(n): n for n in range(4)}, {}, CommitResult(0, 0, 0), "unused")
    assert (huge.valid, huge.hashes) == (False, {})


async def test_a_commit_that_writes_replaces_the_account_stamp_and_returns_the_one_before(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    eventlog = EventLog(redis)
    invoice = support.invoice("stamped", 1)
    change = detect_change(None, invoice, observed_at=datetime.now(UTC))
    assert change is not None
    assert await eventlog.snapshot_stamp("stamped") == ""
    first = await eventlog.commit("stamped", [PendingChange(invoice.invoice_id, "", change)], "one")
    assert (first.written, first.previous_stamp) == (1, "")
    assert await eventlog.snapshot_stamp("stamped") == "one"
    conflict = await eventlog.commit("stamped", [PendingChange(invoice.invoice_id, "", change)], "two")
    assert (conflict.written, conflict.conflicts, conflict.previous_stamp) == (0, 1, "one")
    assert await eventlog.snapshot_stamp("stamped") == "one"  # nothing written: the stamp stays
    await redis.aclose()
