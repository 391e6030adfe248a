"""What this worker knows of an account's stored snapshots, so that a re-sync need not read them all again.

A sync compares each record's source digest with its snapshot's; for an account of thousands of invoices
that means digesting every record and reading thousands of snapshots per sync, most of them unchanged
since this worker's last sync of the account. This cache keeps, per recently synced account and invoice
id, a hash of the record bytes its stored snapshot was made from (as this worker read or wrote it), and
trusts it only while the account's snapshot stamp (`service.state.eventlog`) is the one this worker's own last
commit set or saw: any commit by another worker replaces the stamp, and the next sync here starts again
from Redis. Records not in the cache, or whose bytes hash differently, are digested and compared with
Redis as before.

The hash is Python's own for bytes (SipHash, 64 bits, keyed at random per process): three times cheaper
than the SHA-256 source digest, and only ever compared within this process.
"""

from __future__ import annotations

from collections import OrderedDict

from contracts.records import RawRecord
from service.state.eventlog import CommitResult

#: Invoices remembered across all accounts (about 150 bytes each); accounts synced longest ago go first.
MAX_ENTRIES = 500_000


def bytes_hash(record: object) -> int | None:
    """The hash this cache keeps of a record as received (None for a record that is not raw bytes)."""
    return hash(bytes(record.body)) if isinstance(record, RawRecord) else None


class AccountSources:
    """Per invoice id of one account, the `bytes_hash` of the record its snapshot was made from; valid for
    one snapshot stamp."""

    def __init__(self, stamp: str, max_entries: int) -> None:
        self.stamp = stamp
        self.hashes: dict[str, int] = {}
        self.valid = True
        self._max_entries = max_entries

    def settle(self, read: dict[str, int], committed: dict[str, int | None], result: CommitResult, stamp: str) -> None:
        """After a chunk: `read` are the records found equal to their snapshot in Redis, `committed` the ones
        its commit (made with `stamp`; nothing committed when empty) wrote, each with its `bytes_hash`. Kept
        only if no other writer came in between."""
        if not self.valid:
            return
        if committed:
            if result.conflicts or result.previous_stamp != self.stamp:
                self.forget()  # another worker wrote to this account since this one last looked
                return
            if result.written:
                self.stamp = stamp
        self.hashes.update(read)
        for invoice_id, hashed in committed.items():
            if hashed is None:
                self.hashes.pop(invoice_id, None)
            else:
                self.hashes[invoice_id] = hashed
        if len(self.hashes) > self._max_entries:
            self.forget()  # an account too large to keep: it is read from Redis every time

    def forget(self) -> None:
        self.valid = False
        self.hashes = {}


class SourceCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max_entries = max_entries
        self._accounts: OrderedDict[str, AccountSources] = OrderedDict()

    def open(self, account: str, stamp: str) -> AccountSources:
        """The account's known digests for a sync starting now, when the account's stamp is `stamp`: what
        was known, if nothing was written since by anyone else; else nothing yet."""
        known = self._accounts.pop(account, None)
        if known is None or not known.valid or known.stamp != stamp:
            known = AccountSources(stamp, self._max_entries)
        self._accounts[account] = known
        self._evict()
        return known

    def _evict(self) -> None:
        total = sum(len(known.hashes) for known in self._accounts.values())
        while total > self._max_entries and self._accounts:
            _, dropped = self._accounts.popitem(last=False)
            dropped.valid = False
            total -= len(dropped.hashes)
