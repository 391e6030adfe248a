"""The sandbox's whole state: accounts, their invoices, faults and counters, all in memory."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, overload

from sandbox import jsonio
from sandbox.errors import Problem
from sandbox.faults import Faults

if TYPE_CHECKING:
    from sandbox.provider import Provider

log = logging.getLogger("sandbox")

Record = dict[str, Any]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch: exact, unlike a float timestamp."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


class Invoice:
    """One provider record and its JSON bytes, rendered once and again only after a change.

    A generated record may start as a recipe and be built on first use: 100,000 invoices are then
    ready in well under a second, and each is built exactly once, whatever the order of access.
    """

    __slots__ = ("_json", "_recipe", "_record", "created", "key")

    def __init__(
        self,
        key: str,
        created: int,
        record: Record | None = None,
        recipe: Callable[[], Record] | None = None,
    ) -> None:
        if (record is None) == (recipe is None):
            raise ValueError("an invoice needs a record or a recipe, not both")
        self.key = key
        # The sort key (epoch microseconds), fixed at creation: a raw override of the record's date
        # field is the provider lying about it, it does not move the invoice in the provider's order.
        self.created = created
        self._record = record
        self._recipe = recipe
        self._json: bytes | None = None

    @property
    def record(self) -> Record:
        if self._record is None:
            assert self._recipe is not None
            self._record, self._recipe = self._recipe(), None
        return self._record

    def json(self) -> bytes:
        if self._json is None:
            self._json = jsonio.dumps(self.record)
        return self._json

    def changed(self) -> None:
        self._json = None

    @property
    def status(self) -> Any:
        return self.record.get("status")

    @property
    def created_at(self) -> datetime:
        return from_micros(self.created)


def _created(invoice: Invoice) -> int:
    return invoice.created


class NewestFirst(Sequence[Invoice]):
    """A newest-first view of a slice of the book, so a page never copies the whole window."""

    def __init__(self, items: list[Invoice], lo: int, hi: int) -> None:
        self._items = items
        self._lo = lo
        self._hi = hi

    def __len__(self) -> int:
        return self._hi - self._lo

    def __iter__(self) -> Iterator[Invoice]:
        chunk = self._items[self._lo : self._hi]
        chunk.reverse()
        return iter(chunk)

    @overload
    def __getitem__(self, index: int) -> Invoice: ...
    @overload
    def __getitem__(self, index: slice) -> list[Invoice]: ...
    def __getitem__(self, index: int | slice) -> Invoice | list[Invoice]:
        size = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(size)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            if stop <= start:
                return []
            chunk = self._items[self._hi - stop : self._hi - start]
            chunk.reverse()
            return chunk
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(index)
        return self._items[self._hi - 1 - index]


class InvoiceBook:
    """An account's invoices, kept sorted by creation so a date window is two bisections."""

    def __init__(self) -> None:
        self._items: list[Invoice] = []
        self._keys: dict[str, Invoice] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[Invoice]:
        return iter(self._items)

    def get(self, key: str) -> Invoice | None:
        return self._keys.get(key)

    def load(self, invoices: Iterable[Invoice]) -> None:
        for invoice in invoices:
            if invoice.key in self._keys:
                raise ValueError(f"duplicate invoice id {invoice.key}")
            self._keys[invoice.key] = invoice
            self._items.append(invoice)
        self._items.sort(key=_created)  # stable: equal times keep their insertion order

    def add(self, invoice: Invoice) -> None:
        if invoice.key in self._keys:
            raise ValueError(f"duplicate invoice id {invoice.key}")
        self._keys[invoice.key] = invoice
        at = bisect.bisect_right(self._items, invoice.created, key=_created)
        self._items.insert(at, invoice)

    def newest_first(self) -> NewestFirst:
        return NewestFirst(self._items, 0, len(self._items))

    def between(self, start: int, end: int) -> NewestFirst:
        """Invoices created in [start, end) (epoch microseconds), newest first."""
        lo = bisect.bisect_left(self._items, start, key=_created)
        hi = bisect.bisect_left(self._items, end, key=_created)
        return NewestFirst(self._items, lo, max(lo, hi))

    def pick(self, rng: random.Random) -> Invoice | None:
        return self._items[rng.randrange(len(self._items))] if self._items else None


@dataclass
class AccountConfig:
    """Every setting an account may have; each provider accepts its own subset."""

    api_key: str | None = None
    secret_key: str | None = None
    app_id: str | None = None
    webhook_secret: str | None = None
    user_id: str | None = None
    timezone: str = "UTC"
    username: str | None = None
    password: str | None = None
    token: str | None = None
    token_ttl: float = 3600.0
    limit_mode: str = "index"
    callback_url: str | None = None
    callback_scheme: str | None = None


@dataclass
class Stats:
    requests: int = 0  # every provider API request attributed to this account
    list_requests: int = 0
    narrow_requests: int = 0  # CryptoCloud info, SimplePay invoice details, ISP CRM `?id=`
    logins: int = 0
    faults_injected: int = 0
    callbacks_sent: int = 0  # the receiver answered (any status)
    callbacks_rejected: int = 0  # ... with a non-2xx status
    callbacks_failed: int = 0  # no answer at all, or the callback could not be built
    last_callback: dict[str, Any] | None = None


@dataclass(eq=False)
class Account:
    name: str
    provider: Provider
    config: AccountConfig
    seed: int
    rng: random.Random  # operator actions and new invoices: same seed and same calls, same results
    faults: Faults
    book: InvoiceBook = field(default_factory=InvoiceBook)
    stats: Stats = field(default_factory=Stats)
    serial: int = 0  # the last sequential number handed out (ISP CRM invoice ids)
    latency_ms: int = 0  # added to every provider API request of this account, as a real round trip

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def as_json(self) -> dict[str, Any]:
        settings = {k: v for k, v in asdict(self.config).items() if k in self.provider.settings}
        return {
            "name": self.name,
            "provider": self.provider.name,
            "seed": self.seed,
            "latency_ms": self.latency_ms,
            "invoices": len(self.book),
            **settings,
            **self.provider.describe(self),
        }


def system_clock() -> datetime:
    return datetime.now(UTC)


class Sandbox:
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = system_clock,
        churn_interval: float | None = None,
        churn_seed: int = 0,
    ) -> None:
        self.accounts: dict[str, Account] = {}
        # ISP CRM login tokens: token -> (account name, expiry in epoch seconds of `clock`)
        self.sessions: dict[str, tuple[str, float]] = {}
        self.churn_interval = churn_interval
        self.churn_seed = churn_seed
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def now(self) -> datetime:
        return self._clock()

    def account(self, name: str) -> Account:
        account = self.accounts.get(name)
        if account is None:
            raise Problem(404, f"no account '{name}'")
        return account

    def of_provider(self, provider: str) -> list[Account]:
        return [a for a in self.accounts.values() if a.provider.name == provider]

    def remove(self, name: str) -> None:
        self.account(name)
        del self.accounts[name]
        self.sessions = {t: s for t, s in self.sessions.items() if s[0] != name}

    def reset(self) -> None:
        self.accounts.clear()
        self.sessions.clear()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background; its failure is logged, never raised into a request."""
        task = asyncio.get_running_loop().create_task(_logged(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for background work (callbacks) still under way."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.drain()


async def _logged(work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background work failed")
