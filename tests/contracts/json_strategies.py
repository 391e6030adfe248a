"""Hypothesis strategies for provider records: arbitrary JSON values, and valid records with parts broken."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

#: Texts that sit near what the translators parse: amounts, times, statuses, ids.
_NEAR_MISSES = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1e5",
        "1E+999999999",
        "NaN",
        "Infinity",
        "0x10",
        "1,5",
        "١٢٣",
        "paid",
        "PAID ",
        "success",
        "active",
        "INV-",
        "2024-01-01",
        "2024-01-01 12:00:00.000000",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2024-02-30T00:00:00Z",
    ]
)

json_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.decimals(),  # NaN and infinities included: a translator must refuse them, not crash on them
    st.floats(),
    st.text(max_size=30),
    _NEAR_MISSES,
)

json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)


@st.composite
def mutations(draw: st.DrawFn, record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` with some of its keys deleted or replaced by arbitrary JSON values."""
    mutated = dict(record)
    for key in draw(st.lists(st.sampled_from(sorted(record)), unique=True, min_size=1)):
        if draw(st.booleans()):
            del mutated[key]
        else:
            mutated[key] = draw(json_values)
    return mutated


#: Decimal text as JSON can hold it: no leading zeros, optional fraction; up to 18 decimals (crypto).
#: Not "-0": as a JSON number that is the integer 0, whose sign is gone before any translator sees it.
decimal_texts: st.SearchStrategy[str] = st.from_regex(r"-?(0|[1-9][0-9]{0,19})(\.[0-9]{1,18})?", fullmatch=True).filter(
    lambda text: text != "-0"
)


def rendered(text: str) -> str:
    """SPEC's rendering of decimal text, worked out on the text alone: every digit kept, two or more
    fraction digits."""
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"
