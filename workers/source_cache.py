"""What this worker knows of an account's stored snapshots, so that a re-sync need not read them all again.

A sync compares each record's source digest with its snapshot's; for an account of thousands of invoices
that means reading thousands of snapshots per sync, most of them unchanged since this worker's last sync
of the account. This cache keeps, per recently synced account, the source digest of each snapshot this
worker has read or written, and trusts it only while the account's snapshot stamp (`service.eventlog`)
is the one this worker's own last commit set or saw: any commit by another worker replaces the stamp, and
the next sync here starts again from Redis. Records not in the cache, or whose digest differs, are read
from Redis as before, so the cache can only skip a record that is byte for byte what its snapshot says.
"""

from __future__ import annotations

from collections import OrderedDict

from service.eventlog import CommitResult

#: Source digests kept across all accounts (about 200 bytes each); accounts synced longest ago go first.
MAX_ENTRIES = 500_000


class AccountSources:
    """The known source digest per invoice id of one account, valid for one snapshot stamp."""

    def __init__(self, stamp: str, max_entries: int) -> None:
        self.stamp = stamp
        self.digests: dict[str, str] = {}
        self.valid = True
        self._max_entries = max_entries

    def settle(self, read: dict[str, str], committed: dict[str, str], result: CommitResult, stamp: str) -> None:
        """After a chunk: `read` are source digests read from Redis, `committed` the ones its commit (made
        with `stamp`; nothing committed when empty) wrote. Kept only if no other writer came in between."""
        if not self.valid:
            return
        if committed:
            if result.conflicts or result.previous_stamp != self.stamp:
                self.forget()  # another worker wrote to this account since this one last looked
                return
            if result.written:
                self.stamp = stamp
        self.digests.update(read)
        self.digests.update(committed)
        if len(self.digests) > self._max_entries:
            self.forget()  # an account too large to keep: it is read from Redis every time

    def forget(self) -> None:
        self.valid = False
        self.digests = {}


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
        total = sum(len(known.digests) for known in self._accounts.values())
        while total > self._max_entries and self._accounts:
            _, dropped = self._accounts.popitem(last=False)
            dropped.valid = False
            total -= len(dropped.digests)
