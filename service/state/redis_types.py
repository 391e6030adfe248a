"""redis-py types its commands as `Awaitable[T] | T` (one signature for sync and async clients)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar, cast

T = TypeVar("T")


def awaited(value: Awaitable[T] | T) -> Awaitable[T]:
    """The async client always returns an awaitable: say so to the type checker, at no run-time cost."""
    return cast(Awaitable[T], value)


def text(value: Any) -> str:
    """A Redis reply value as text (the clients here do not decode responses)."""
    return value.decode() if isinstance(value, bytes) else str(value)
