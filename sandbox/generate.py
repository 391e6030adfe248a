"""Seeded invoice generation: the same seed and the same clock give the same invoices, byte for byte."""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import math
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, TypeVar

from sandbox.state import Account, Invoice, Record, from_micros, to_micros

if TYPE_CHECKING:
    from sandbox.provider import Provider

T = TypeVar("T")

# Everything is created within this span before "now", so a relay's 7-day window sees all of it.
SPAN = timedelta(days=3)

# What a generated invoice went through after creation. Unpaid ones dominate, as in a live shop;
# a provider without an action (CryptoCloud has no refunds) leaves those invoices unpaid instead.
HISTORY = (
    ("open", 55),
    ("pay", 22),
    ("partial", 5),
    ("overpay", 3),
    ("cancel", 6),
    ("expire", 7),
    ("refund", 2),
)
ROUND_PRICES = (5, 10, 15, 20, 25, 50, 100, 150, 200, 500)
_LOG_MIN_CENTS = math.log(100)
_LOG_MAX_CENTS = math.log(100_000)


def random_amount(rng: random.Random) -> Decimal:
    """A price in major units with two fraction digits: often round, otherwise spread from 1 to 1000."""
    if rng.random() < 0.35:
        cents = ROUND_PRICES[int(rng.random() * len(ROUND_PRICES))] * 100
    else:
        cents = round(math.exp(_LOG_MIN_CENTS + rng.random() * (_LOG_MAX_CENTS - _LOG_MIN_CENTS)))
    return Decimal(cents).scaleb(-2)


def generate(provider: Provider, account: Account, count: int, seed: int, now: datetime) -> list[Invoice]:
    """`count` invoices for `account`, oldest first, their records built on first use."""
    rng = random.Random(seed)
    now_us = to_micros(now)
    span_us = int(SPAN.total_seconds() * 1_000_000)
    # Times are drawn and sorted first so sequential ids (ISP CRM) follow creation order.
    offsets = sorted((1 + int(rng.random() * (span_us - 1)) for _ in range(count)), reverse=True)
    history = [(kind, weight) for kind, weight in HISTORY if kind == "open" or kind in provider.transitions]
    kinds = rng.choices([k for k, _ in history], weights=[w for _, w in history], k=count)
    taken: set[str] = set()
    invoices: list[Invoice] = []
    for offset, kind in zip(offsets, kinds, strict=True):
        key = provider.fresh_id(account, rng, taken.__contains__)
        taken.add(key)
        created = now_us - offset
        # Each record gets its own seed, so building it later, in any order, gives the same bytes.
        recipe = functools.partial(
            _build, provider, account, key=key, seed=rng.getrandbits(64), created=created, kind=kind, now=now_us
        )
        invoices.append(Invoice(key, created, recipe=recipe))
    return invoices


def _build(provider: Provider, account: Account, *, key: str, seed: int, created: int, kind: str, now: int) -> Record:
    rng = random.Random(seed)
    rec = provider.build(account, key, rng, from_micros(created), random_amount(rng))
    if kind != "open":
        at = from_micros(created + int((now - created) * rng.random()))
        provider.transition(account, rec, kind, rng, at)
        provider.touched(rec, at)
    return rec


class Weighted(Generic[T]):
    """A weighted choice, its cumulative table built once (random.choices rebuilds it every call)."""

    def __init__(self, pairs: Sequence[tuple[T, int]]) -> None:
        self.values = tuple(value for value, _ in pairs)
        self._cumulative = list(itertools.accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect(self._cumulative, rng.random() * self._total)]


# Generation renders hundreds of thousands of times; these stay cheap (no strftime, no uuid.UUID).


def rng_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng`, so seeded runs repeat it."""
    h = f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def naive_utc(moment: datetime) -> datetime:
    """`moment` in UTC without its zone, ready for isoformat() in the provider's layout."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None)


@functools.cache
def stable_int(text: str, modulo: int) -> int:
    """A number derived from `text` alone (stable across runs, unlike hash())."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % modulo


@functools.cache
def stable_uuid(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{text}"))
