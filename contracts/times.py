"""Provider timestamps in, aware UTC datetimes out; RFC 3339 with `Z` on the way back out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def parse_time(value: object, zone: tzinfo = UTC) -> datetime:
    """ISO-8601 / RFC 3339 text, with `T` or a space, with or without a fraction or an offset.

    Zone-less text is read in `zone` (the account's zone; UTC by default).
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a timestamp: {value!r}") from exc
    # The common cases (zone-less read as UTC, or already UTC) skip the conversion: a sync of a large
    # account parses two timestamps per invoice.
    if parsed.tzinfo is None:
        if zone is UTC:
            return parsed.replace(tzinfo=UTC)
        parsed = parsed.replace(tzinfo=zone)
    elif parsed.tzinfo is UTC:
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # "0001-01-01T00:00:00+03:00" is before year 1 in UTC
        raise ValueError(f"timestamp out of range: {value!r}") from exc


#: RFC 3339's date-time: the offset (`Z` or `+hh:mm`) is required, unlike ISO 8601 and `parse_time`.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_rfc3339(value: object) -> datetime:
    """An RFC 3339 date-time, in UTC; `ValueError` for anything else, a time without an offset included (its
    moment would depend on the reader's zone)."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value.strip()):
        raise ValueError(f"not an RFC 3339 time with an offset: {value!r}")
    return parse_time(value)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with `Z`; microseconds only when there are any."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in the relay is aware")
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    # Not strftime: its %Y does not pad years before 1000 to four digits. isoformat ends in "+00:00".
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds")[:-6] + "Z"


def zone_named(name: str) -> tzinfo:
    """An IANA zone; `ValueError` for a name the zone database does not know."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
