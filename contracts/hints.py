"""Ids read out of callbacks for a `CallbackHint`.

Callback bodies are often unsigned (or signed only in part), so an id in one is taken only when it looks
like an id: anything else is left out of the hint rather than refused, since a hint only makes the relay
read that invoice back from the provider, and nothing odd then reaches the queue or the logs.
"""

from __future__ import annotations

import re


def hint_id(value: object, pattern: re.Pattern[str]) -> str | None:
    """`value` when it is text that `pattern` matches in full, else None."""
    return value if isinstance(value, str) and pattern.fullmatch(value) else None
