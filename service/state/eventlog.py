"""The event log: snapshots and events written together, atomically, so each change is logged once.

A sync compares a page of invoices with their stored snapshots, then commits the page's changes in one
script. For each change the script checks the snapshot is still the one the comparison saw (so two
overlapping syncs cannot both log it), writes the new snapshot, and appends the event to a stream. A worker
killed before the script leaves nothing behind (the next sync sees the change again); killed after it, the
next sync sees no change. The event id is deterministic and guarded by the index, a second line of defence.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from contracts.changes import Change
from contracts.operational import OPERATIONAL_WILDCARD, OperationalEvent, is_operational
from service.state.event_bodies import pack, unpack
from service.state.keys import EVENT_INDEX, EVENTS, FANOUT_GROUP, per_minute, snapshot_stamp, snapshots
from service.state.per_minute import COUNT_MINUTE
from service.state.per_minute import EVENTS as EVENTS_PER_MINUTE
from service.state.redis_types import awaited, text

# Appends an event to the log unless its id is in the index already: every script that logs an event uses it,
# so an event is logged once whoever raises it and however often. Further arguments are more fields of its
# entry, in pairs (an invoice event's `invoice` key and `seq`uence, for per-invoice ordering; with tracing on,
# the `trace`parent of the span that logged it).
APPEND_EVENT = """
local function append_event(stream, index, event_id, account, event_type, body, ...)
  if redis.call('HSETNX', index, event_id, '') == 0 then return false end
  local entry = redis.call(
    'XADD', stream, '*', 'id', event_id, 'account', account, 'type', event_type, 'body', body, ...)
  redis.call('HSET', index, event_id, entry)
  return true
end
"""

_COMMIT = (
    APPEND_EVENT
    + COUNT_MINUTE
    + """
local written, logged, conflicts = 0, 0, 0
local types = {}
local previous_stamp = redis.call('GET', KEYS[4]) or ''
local i = 5
for _ = 1, tonumber(ARGV[2]) do
  local invoice, expected, snapshot = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local event_id, event_type, body = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local invoice_key, sequence = ARGV[i + 6], ARGV[i + 7]
  i = i + 8
  local current = redis.call('HGET', KEYS[1], invoice) or ''
  if current ~= expected then
    conflicts = conflicts + 1
  else
    redis.call('HSET', KEYS[1], invoice, snapshot)
    written = written + 1
    local appended = false
    if event_id ~= '' and ARGV[4] == '' then
      appended = append_event(
        KEYS[2], KEYS[3], event_id, ARGV[1], event_type, body, 'invoice', invoice_key, 'seq', sequence)
    elseif event_id ~= '' then
      appended = append_event(
        KEYS[2], KEYS[3], event_id, ARGV[1], event_type, body, 'invoice', invoice_key, 'seq', sequence,
        'trace', ARGV[4])
    end
    if appended then
      logged = logged + 1
      table.insert(types, event_type)
    end
  end
end
if written > 0 then
  redis.call('SET', KEYS[4], ARGV[3])
end
count_minute(KEYS[5], logged)
return {written, logged, conflicts, types, previous_stamp}
"""
)

_APPEND_ONE = (
    APPEND_EVENT
    + COUNT_MINUTE
    + """
if not append_event(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 0 end
count_minute(KEYS[3], 1)
return 1
"""
)


_APPEND_KEYS = [EVENTS, EVENT_INDEX, per_minute(EVENTS_PER_MINUTE)]


@dataclass(frozen=True, slots=True)
class PendingChange:
    """A detected change and the snapshot text it was detected against ('' for first sight)."""

    invoice_id: str
    expected: str
    change: Change


@dataclass(frozen=True, slots=True)
class CommitResult:
    written: int
    logged: int
    conflicts: int
    #: The type of each event appended.
    types: tuple[str, ...] = ()
    #: The account's snapshot stamp before this commit ('' when never stamped); the commit's own stamp
    #: replaced it if anything was written.
    previous_stamp: str = ""


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    cursor: str
    event_id: str
    account: str
    type: str
    body: bytes
    #: The traceparent of the span that logged it ('' when tracing was off).
    trace: str = ""


_MAX_ID_PART = 2**64 - 1


def encode_cursor(entry_id: str) -> str:
    return base64.urlsafe_b64encode(entry_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The stream entry id inside an opaque cursor; `ValueError` for anything that is not one."""
    try:
        entry = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    millis, dash, seq = entry.partition("-")
    # ASCII digits only ("²".isdigit() is true), each part an unsigned 64-bit number, and not the largest id (the
    # cursor is an exclusive start): Redis refuses anything else, which would answer 503 instead of 400.
    if not (dash and millis.isascii() and millis.isdigit() and seq.isascii() and seq.isdigit()):
        raise ValueError("invalid cursor")
    if len(millis) > 20 or len(seq) > 20:
        raise ValueError("invalid cursor")
    parts = (int(millis), int(seq))
    if max(parts) > _MAX_ID_PART or parts == (_MAX_ID_PART, _MAX_ID_PART):
        raise ValueError("invalid cursor")
    return entry


def _logged(entry_id: Any, fields: dict[Any, Any]) -> LoggedEvent:
    return LoggedEvent(
        cursor=encode_cursor(text(entry_id)),
        event_id=text(fields[b"id"]),
        account=text(fields[b"account"]),
        type=text(fields[b"type"]),
        body=unpack(fields[b"body"]),
        trace=text(fields.get(b"trace", b"")),
    )


class EventLog:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._commit = redis.register_script(_COMMIT)
        self._append_one = redis.register_script(_APPEND_ONE)

    async def snapshots(self, account: str, invoice_ids: Sequence[str]) -> list[str]:
        """Stored snapshot text per invoice id ('' where none)."""
        if not invoice_ids:
            return []
        values = await awaited(self._redis.hmget(snapshots(account), list(invoice_ids)))
        return ["" if value is None else text(value) for value in values]

    async def snapshot_stamp(self, account: str) -> str:
        """The token of the last commit that wrote one of the account's snapshots ('' when none did)."""
        return text(await self._redis.get(snapshot_stamp(account)) or b"")

    async def commit(
        self, account: str, changes: Sequence[PendingChange], stamp: str = "", trace: str = ""
    ) -> CommitResult:
        """Write the changes (each only if its snapshot is still `expected`). `stamp`, a token unique to this
        commit, becomes the account's snapshot stamp if anything is written (a fresh one when not given);
        `trace`, the committing span's traceparent, is kept with each event logged."""
        if not changes:
            return CommitResult(0, 0, 0)
        args: list[str | bytes | int] = [account, len(changes), stamp or uuid.uuid4().hex, trace]
        for pending in changes:
            event = pending.change.event
            args += [
                pending.invoice_id,
                pending.expected,
                pending.change.snapshot.encode(),
                "" if event is None else event.id,
                "" if event is None else event.type,
                b"" if event is None else pack(event.to_json()),
                # Beside the packed body, for per-invoice ordering to read in a script.
                "" if event is None else event.invoice.key,
                0 if event is None else event.sequence,
            ]
        written, logged, conflicts, types, previous = await self._commit(
            keys=[snapshots(account), EVENTS, EVENT_INDEX, snapshot_stamp(account), per_minute(EVENTS_PER_MINUTE)],
            args=args,
        )
        return CommitResult(int(written), int(logged), int(conflicts), tuple(text(t) for t in types), text(previous))

    async def append_operational(self, event: OperationalEvent) -> bool:
        """Log an operational event; False when its id was logged already (the occurrence was reported)."""
        return int(await self._append_one(keys=_APPEND_KEYS, args=operational_fields(event))) == 1

    async def queue_operational(self, pipe: Pipeline, event: OperationalEvent) -> None:
        """Queue the append in a transaction pipeline: it happens with the change it reports, or not at all."""
        await self._append_one(keys=_APPEND_KEYS, args=operational_fields(event), client=pipe)

    async def page(
        self,
        *,
        after: str | None,
        limit: int,
        account: str | None = None,
        event_type: str | None = None,
        scan_budget: int = 5000,
    ) -> tuple[list[LoggedEvent], str | None]:
        """Events oldest first after the cursor, filtered; and the cursor to continue from (None at the end).

        Filtering happens while scanning the stream; a sparse filter stops after `scan_budget` entries and
        hands back a cursor, so one call never walks the whole log.
        """
        start = "-" if after is None else "(" + decode_cursor(after)
        found: list[LoggedEvent] = []
        scanned = 0
        last_entry: str | None = None
        while len(found) < limit and scanned < scan_budget:
            batch = await self._redis.xrange(EVENTS, min=start, max="+", count=max(limit, 100))
            if not batch:
                return found, None
            for entry_id, fields in batch:
                scanned += 1
                last_entry = text(entry_id)
                if (account is None or text(fields[b"account"]) == account) and (
                    event_type is None or type_matches(event_type, text(fields[b"type"]))
                ):
                    found.append(_logged(entry_id, fields))
                    if len(found) == limit:
                        break
            if last_entry is None:
                break
            start = "(" + last_entry
        if last_entry is None:
            return found, None
        more = await self._redis.xrange(EVENTS, min="(" + last_entry, max="+", count=1)
        return found, (encode_cursor(last_entry) if more else None)

    async def newest_first(
        self,
        *,
        before: str | None = None,
        after: str | None = None,
        limit: int,
        account: str | None = None,
        event_type: str | None = None,
        invoice: str | None = None,
        scan_budget: int = 5000,
    ) -> tuple[list[LoggedEvent], str | None]:
        """Events newest first, older than the cursor `before` and newer than the cursor `after` (either
        optional), filtered by account, type (as `page`) and invoice (its id, or its `account:id` key); and the
        cursor to continue with older ones (None when none is left). Like `page`, a sparse filter stops after
        `scan_budget` entries and hands back a cursor."""
        high = "+" if before is None else "(" + decode_cursor(before)
        low = "-" if after is None else "(" + decode_cursor(after)
        found: list[LoggedEvent] = []
        scanned = 0
        last_entry: str | None = None
        while len(found) < limit and scanned < scan_budget:
            batch = await self._redis.xrevrange(EVENTS, max=high, min=low, count=min(max(limit, 100), scan_budget))
            if not batch:
                return found, None
            for entry_id, fields in batch:
                scanned += 1
                last_entry = text(entry_id)
                if _wanted(fields, account, event_type, invoice):
                    found.append(_logged(entry_id, fields))
                    if len(found) == limit:
                        break
            high = "(" + text(batch[-1][0]) if len(found) < limit else high
        if last_entry is None:
            return found, None
        more = await self._redis.xrevrange(EVENTS, max="(" + last_entry, min=low, count=1)
        return found, (encode_cursor(last_entry) if more else None)

    async def newest_cursor(self) -> str | None:
        """The cursor of the newest event in the log (None when it is empty): what comes after it is new."""
        newest = await self._redis.xrevrange(EVENTS, count=1)
        return encode_cursor(text(newest[0][0])) if newest else None

    async def bodies(self, event_ids: Sequence[str]) -> dict[str, bytes]:
        """Logged bodies by event id (two round trips for any number); ids not in the log are left out."""
        return {event_id: body for event_id, (body, _) in (await self.bodies_and_traces(event_ids)).items()}

    async def bodies_and_traces(self, event_ids: Sequence[str]) -> dict[str, tuple[bytes, str]]:
        """Logged bodies, each with the traceparent it was logged under ('' untraced), by event id."""
        if not event_ids:
            return {}
        entries = await awaited(self._redis.hmget(EVENT_INDEX, list(event_ids)))
        found = [(event_id, text(entry)) for event_id, entry in zip(event_ids, entries, strict=True) if entry]
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, entry in found:
                pipe.xrange(EVENTS, min=entry, max=entry, count=1)
            rows = await pipe.execute()
        return {
            event_id: (unpack(row[0][1][b"body"]), text(row[0][1].get(b"trace", b"")))
            for (event_id, _), row in zip(found, rows, strict=True)
            if row
        }

    async def since(self, since_ms: int, until_ms: int | None = None, batch: int = 1000) -> AsyncIterator[LoggedEvent]:
        """Every event logged at or after `since_ms` (stream ids start with their unix ms), up to `until_ms`
        inclusive when given, oldest first."""
        start = f"{max(since_ms, 0)}-0"  # before 1970 means from the start; Redis refuses a negative id
        end = "+" if until_ms is None else str(max(until_ms, 0))  # an id's ms alone: every entry of that ms
        while True:
            rows = await self._redis.xrange(EVENTS, min=start, max=end, count=batch)
            for entry_id, fields in rows:
                yield _logged(entry_id, fields)
            if len(rows) < batch:
                return
            start = "(" + text(rows[-1][0])

    async def types(self, event_ids: Sequence[str]) -> dict[str, str]:
        """Logged events' types by id (two round trips for any number); ids not in the log are left out."""
        if not event_ids:
            return {}
        entries = await awaited(self._redis.hmget(EVENT_INDEX, list(event_ids)))
        found = [(event_id, text(entry)) for event_id, entry in zip(event_ids, entries, strict=True) if entry]
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, entry in found:
                pipe.xrange(EVENTS, min=entry, max=entry, count=1)
            rows = await pipe.execute()
        return {event_id: text(row[0][1][b"type"]) for (event_id, _), row in zip(found, rows, strict=True) if row}

    async def get(self, event_id: str) -> LoggedEvent | None:
        entry = await awaited(self._redis.hget(EVENT_INDEX, event_id))
        if not entry:
            return None
        rows = await self._redis.xrange(EVENTS, min=text(entry), max=text(entry), count=1)
        return _logged(*rows[0]) if rows else None


@dataclass(frozen=True, slots=True)
class GroupEntry:
    """One log entry handed to a fan-out consumer. `event` is None for an entry deleted from the log while it
    was pending: it has nothing to fan out, and is acknowledged all the same."""

    entry_id: str
    event: LoggedEvent | None


def _group_entries(rows: Sequence[Any]) -> list[GroupEntry]:
    return [GroupEntry(text(entry_id), _logged(entry_id, fields) if fields else None) for entry_id, fields in rows]


class FanoutFeed:
    """The event log as the fan-out consumer group reads it: each entry handed to one consumer, acknowledged
    once its deliveries exist, and taken over from a consumer that died before acknowledging."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def ensure_group(self) -> None:
        """Create the group (and the stream) unless they exist; from the start of the log, so that a first
        worker fans out whatever was logged before it ran."""
        try:
            await self._redis.xgroup_create(EVENTS, FANOUT_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, consumer: str, count: int, block_ms: int) -> list[GroupEntry]:
        """New entries for `consumer`, waiting up to `block_ms` for the first. `GroupMissing` when the stream or
        group vanished (a Redis that lost its data)."""
        try:
            reply = await self._redis.xreadgroup(FANOUT_GROUP, consumer, {EVENTS: ">"}, count=count, block=block_ms)
        except ResponseError as exc:
            raise _missing_group_or(exc) from exc
        return [entry for _stream, rows in reply or [] for entry in _group_entries(rows)]

    async def ack(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self._redis.xack(EVENTS, FANOUT_GROUP, *entry_ids)

    async def reclaim(self, consumer: str, idle_ms: int, start: str, count: int) -> tuple[str, list[GroupEntry]]:
        """Entries other consumers read at least `idle_ms` ago and never acknowledged, now `consumer`'s; and the
        id to continue from ('0-0' once the whole pending list was scanned)."""
        try:
            reply = await self._redis.xautoclaim(EVENTS, FANOUT_GROUP, consumer, idle_ms, start_id=start, count=count)
        except ResponseError as exc:
            raise _missing_group_or(exc) from exc
        return text(reply[0]), _group_entries(reply[1])


class GroupMissing(Exception):
    """The log's consumer group (or the log itself) does not exist."""


def _missing_group_or(exc: ResponseError) -> Exception:
    return GroupMissing(str(exc)) if "NOGROUP" in str(exc) else exc


def operational_fields(event: OperationalEvent) -> list[str | bytes]:
    """The arguments `APPEND_EVENT` takes for an operational event, after the stream and index keys."""
    return [event.id, event.account or "", event.type, pack(event.to_json())]


def _wanted(fields: dict[Any, Any], account: str | None, event_type: str | None, invoice: str | None) -> bool:
    if account is not None and text(fields[b"account"]) != account:
        return False
    if event_type is not None and not type_matches(event_type, text(fields[b"type"])):
        return False
    if invoice is None:
        return True
    key = text(fields.get(b"invoice", b""))
    return key == invoice or key.partition(":")[2] == invoice


def type_matches(pattern: str, event_type: str) -> bool:
    """For the log's listing: `*` matches every event, `invoice.*` every invoice event, `relay.*` every
    operational event, and a type itself."""
    if pattern in ("*", event_type):
        return True
    if pattern == OPERATIONAL_WILDCARD:
        return is_operational(event_type)
    return pattern == "invoice.*" and not is_operational(event_type)
