"""Provider timestamps in, aware UTC datetimes out; RFC 3339 with `Z` on the way back out."""

from __future__ import annotations

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
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with `Z`; microseconds only when there are any."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in the relay is aware")
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def zone_named(name: str) -> tzinfo:
    """An IANA zone; `ValueError` for a name the zone database does not know."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
