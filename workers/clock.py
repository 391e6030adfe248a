"""The workers' one reading of the wall clock in Redis's units."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Unix time in milliseconds: the unit of every due time and lease stored in Redis."""
    return int(time.time() * 1000)
