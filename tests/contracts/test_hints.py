"""Ids read out of callbacks: taken only when they look like ids."""

from __future__ import annotations

import re

import pytest

from contracts.hints import hint_id

PATTERN = re.compile(r"[A-Za-z0-9-]{1,8}")


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("inv-1", "inv-1"),
        ("12345678", "12345678"),
        ("123456789", None),  # longer than the pattern allows
        ("", None),
        (" inv-1", None),  # not trimmed: the caller decides what it normalises
        ("inv 1", None),
        ("inv-1\n", None),  # fullmatch, not match: `$` would let a trailing newline through
        (12345, None),  # text only: a provider sending numbers converts them itself
        (None, None),
        (["inv-1"], None),
    ],
)
def test_hint_id(value: object, hint: str | None) -> None:
    assert hint_id(value, PATTERN) == hint
