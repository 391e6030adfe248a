"""Injected failures of provider read requests (list or narrow): what to break, how often, for how long."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.errors import Problem

KINDS = (
    "429",
    "500",
    "401",
    "slow",
    "malformed_json",
    "malformed_record",
    "duplicate_records",
    "endless_body",
    "huge_body",
)
MAX_DELAY = 120.0
#: Which requests a fault applies to: the lists the relay polls, the narrow reads of named invoices
#: (CryptoCloud info, SimplePay invoice details, ISP CRM `?id=`), or both.
ENDPOINTS = ("list", "narrow", "any")


@dataclass(slots=True)
class Fault:
    kind: str
    remaining: int | None  # None: fires until cleared
    rate: float
    retry_after: int | None
    delay: float
    endpoint: str = "list"

    def applies_to(self, endpoint: str) -> bool:
        return self.endpoint in (endpoint, "any")

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "endpoint": self.endpoint,
            "remaining": self.remaining,
            "rate": self.rate,
            "retry_after": self.retry_after,
            "delay": self.delay,
        }


def _number(spec: Mapping[str, Any], key: str) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise Problem(400, f"'{key}' must be a number")
    return float(value)


def parse_fault(spec: Mapping[str, Any]) -> Fault:
    unknown = set(spec) - {"kind", "endpoint", "count", "rate", "retry_after", "delay"}
    if unknown:
        raise Problem(400, f"unknown fault keys: {sorted(unknown)}")
    kind = spec.get("kind")
    if isinstance(kind, int) and not isinstance(kind, bool):
        kind = str(kind)  # {"kind": 429} is an easy slip; it means the same thing
    if kind not in KINDS:
        raise Problem(400, f"'kind' must be one of {list(KINDS)}")
    endpoint = spec.get("endpoint", "list")
    if endpoint not in ENDPOINTS:
        raise Problem(400, f"'endpoint' must be one of {list(ENDPOINTS)}")
    count = _number(spec, "count")
    rate = _number(spec, "rate")
    retry_after = _number(spec, "retry_after")
    delay = _number(spec, "delay")
    if count is not None and (count < 1 or count != int(count)):
        raise Problem(400, "'count' must be a positive integer")
    if rate is not None and not 0 < rate <= 1:
        raise Problem(400, "'rate' must be in (0, 1]")
    if retry_after is not None and (retry_after < 0 or retry_after != int(retry_after)):
        raise Problem(400, "'retry_after' must be a non-negative integer (seconds)")
    if delay is not None and not 0 <= delay <= MAX_DELAY:
        raise Problem(400, f"'delay' must be between 0 and {MAX_DELAY} seconds")
    if kind == "slow" and delay is None:
        raise Problem(400, "a 'slow' fault needs 'delay' (seconds)")
    # Without count or rate a fault fires once: a forgotten fault must not break a whole test run.
    remaining = int(count) if count is not None else (None if rate is not None else 1)
    return Fault(
        kind=kind,
        remaining=remaining,
        rate=1.0 if rate is None else rate,
        retry_after=None if retry_after is None else int(retry_after),
        delay=delay or 0.0,
        endpoint=endpoint,
    )


class Faults:
    """The faults armed on one account; draws are seeded so a rate gives the same pattern every run."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._armed: list[Fault] = []

    def arm(self, fault: Fault) -> None:
        self._armed.append(fault)

    def clear(self) -> None:
        self._armed.clear()

    def as_json(self) -> list[dict[str, Any]]:
        return [fault.as_json() for fault in self._armed]

    def draw(self, endpoint: str) -> Fault | None:
        """The fault for this request to a `list` or `narrow` endpoint, if any; the first armed one that
        applies to it and fires wins."""
        for fault in self._armed:
            if not fault.applies_to(endpoint):
                continue
            if fault.rate < 1 and self.rng.random() >= fault.rate:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._armed.remove(fault)
            return fault
        return None


#: What a `huge_body` answer declares and streams: 1 GiB.
HUGE_BODY_BYTES = 1 << 30
#: An `endless_body` answer stops on its own after this much, so a client that never stops reading cannot
#: keep a test's sandbox busy forever.
ENDLESS_BODY_CAP = 16 << 30
STREAM_CHUNK = b" " * (64 << 10)


async def streamed(total: int) -> AsyncIterator[bytes]:
    """`total` bytes of JSON whitespace, a chunk at a time: valid-looking, never a complete answer."""
    sent = 0
    while sent < total:
        chunk = STREAM_CHUNK[: total - sent]
        sent += len(chunk)
        yield chunk


def truncate(body: bytes) -> bytes:
    """A body cut in half: every strict prefix of a JSON object or array is invalid JSON."""
    return body[: max(1, len(body) // 2)]
