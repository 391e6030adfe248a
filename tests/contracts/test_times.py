"""Provider timestamps in (every shape the providers send), RFC 3339 UTC with `Z` out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.times import format_time, parse_rfc3339, parse_time, zone_named

MOSCOW = ZoneInfo("Europe/Moscow")
NEW_YORK = ZoneInfo("America/New_York")
#: The event schema's time pattern.
RFC3339_Z = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?Z"
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # CryptoCloud: space, microseconds, no zone.
        ("2023-01-01 12:00:00.000000", utc(2023, 1, 1, 12)),
        ("2023-01-01 12:00:00.123456", utc(2023, 1, 1, 12, 0, 0, 123456)),
        ("2023-01-02 12:00:00", utc(2023, 1, 2, 12)),
        # SimplePay / ISP CRM: RFC 3339 with Z, with and without a fraction.
        ("2023-12-01T10:00:00Z", utc(2023, 12, 1, 10)),
        ("2023-12-01T10:00:00z", utc(2023, 12, 1, 10)),
        ("2025-05-29T02:27:04.723Z", utc(2025, 5, 29, 2, 27, 4, 723000)),
        ("2024-07-31T01:02:03.123456Z", utc(2024, 7, 31, 1, 2, 3, 123456)),
        # Offsets.
        ("2023-01-01T12:00:00+03:00", utc(2023, 1, 1, 9)),
        ("2023-01-01T12:00:00-05:30", utc(2023, 1, 1, 17, 30)),
        ("2023-01-01T00:30:00+01:00", utc(2022, 12, 31, 23, 30)),
        ("2023-01-01 12:00:00+00:00", utc(2023, 1, 1, 12)),
        ("2023-01-01T12:00:00.5+03:00", utc(2023, 1, 1, 9, 0, 0, 500000)),
        # Surrounding whitespace.
        ("  2023-01-01T12:00:00Z\n", utc(2023, 1, 1, 12)),
        # Edges of the calendar.
        ("0001-01-01T00:00:00Z", utc(1, 1, 1)),
        ("9999-12-31T23:59:59Z", utc(9999, 12, 31, 23, 59, 59)),
        ("2024-02-29T00:00:00Z", utc(2024, 2, 29)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2023-01-01 12:00:00", MOSCOW, utc(2023, 1, 1, 9)),
        ("2025-05-15 18:37:30", MOSCOW, utc(2025, 5, 15, 15, 37, 30)),
        ("2023-01-01 12:00:00", zone_named("UTC"), utc(2023, 1, 1, 12)),
        # New York across the 2024 spring-forward (2024-03-10 02:00 EST -> 03:00 EDT).
        ("2024-03-10 01:30:00", NEW_YORK, utc(2024, 3, 10, 6, 30)),
        ("2024-03-10 03:30:00", NEW_YORK, utc(2024, 3, 10, 7, 30)),
        # ...and the autumn fall-back: an hour that happens twice is read as its first occurrence (EDT).
        ("2024-11-03 00:30:00", NEW_YORK, utc(2024, 11, 3, 4, 30)),
        ("2024-11-03 01:30:00", NEW_YORK, utc(2024, 11, 3, 5, 30)),
        ("2024-11-03 02:30:00", NEW_YORK, utc(2024, 11, 3, 7, 30)),
        ("2024-07-01T12:00:00", NEW_YORK, utc(2024, 7, 1, 16)),
        ("2024-01-01T12:00:00", NEW_YORK, utc(2024, 1, 1, 17)),
        # An explicit offset or Z wins over the account's zone.
        ("2023-01-01T12:00:00Z", MOSCOW, utc(2023, 1, 1, 12)),
        ("2023-01-01T12:00:00+01:00", NEW_YORK, utc(2023, 1, 1, 11)),
    ],
)
def test_zone_less_times_are_read_in_the_account_zone(text: str, zone: tzinfo, expected: datetime) -> None:
    assert parse_time(text, zone) == expected


def test_zone_less_times_default_to_utc() -> None:
    assert parse_time("2023-01-01 12:00:00") == utc(2023, 1, 1, 12)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "yesterday",
        "2023-13-01T00:00:00Z",
        "2025-02-30 10:00:00",
        "2023-01-01T25:00:00Z",
        "2023-01-01T12:00:00+25:00",
        "2023/01/01 12:00:00",
        "01.01.2023 12:00",
        "2023-01-01T12:00:00ZZ",
        "Z",
        "1700000000",
        "\u0662\u0660\u0662\u0663-01-01",
        "0001-01-01T00:00:00+03:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        1700000000,
        1700000000.5,
        None,
        b"2023-01-01T12:00:00Z",
        datetime(2023, 1, 1, tzinfo=UTC),
    ],
)
def test_parse_time_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_time(value)


def test_zone_less_time_out_of_range_in_the_account_zone_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_time("0001-01-01 00:30:00", MOSCOW)
    with pytest.raises(ValueError):
        parse_time("9999-12-31 23:30:00", NEW_YORK)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (utc(2026, 11, 22, 9, 58), "2026-11-22T09:58:00Z"),
        (utc(2026, 11, 22, 10, 0, 0, 123456), "2026-11-22T10:00:00.123456Z"),
        (utc(2026, 11, 22, 10, 0, 0, 1), "2026-11-22T10:00:00.000001Z"),
        (utc(2026, 11, 22, 10, 0, 0, 500000), "2026-11-22T10:00:00.500000Z"),
        (datetime(2026, 11, 22, 13, 0, tzinfo=timezone(timedelta(hours=3))), "2026-11-22T10:00:00Z"),
        (datetime(2026, 7, 1, 8, 0, tzinfo=NEW_YORK), "2026-07-01T12:00:00Z"),
        (datetime(2026, 1, 1, 0, 30, tzinfo=MOSCOW), "2025-12-31T21:30:00Z"),
        (utc(1, 1, 1), "0001-01-01T00:00:00Z"),
        (utc(999, 5, 1, 1, 2, 3), "0999-05-01T01:02:03Z"),
        (utc(9999, 12, 31, 23, 59, 59, 999999), "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_format_time(moment: datetime, text: str) -> None:
    assert format_time(moment) == text
    assert RFC3339_Z.fullmatch(text)


def test_format_time_refuses_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 11, 22, 10, 0))


zones = st.sampled_from([UTC, MOSCOW, NEW_YORK, timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))])


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones))
def test_format_then_parse_round_trips(moment: datetime) -> None:
    text = format_time(moment)
    assert RFC3339_Z.fullmatch(text), text
    assert parse_time(text) == moment.astimezone(UTC)  # not `== moment`: PEP 495 makes gap times unequal
    assert format_time(parse_time(text)) == text


@pytest.mark.parametrize("name", ["UTC", "utc", "Etc/UTC", "Europe/Moscow", "America/New_York", "Asia/Kolkata"])
def test_zone_named(name: str) -> None:
    zone = zone_named(name)
    assert datetime(2024, 1, 1, tzinfo=zone).utcoffset() is not None


def test_zone_named_utc_is_the_utc_singleton() -> None:
    assert zone_named("UTC") is UTC
    assert zone_named("Europe/Moscow") == MOSCOW
    assert datetime(2024, 1, 1, tzinfo=zone_named("Asia/Kolkata")).utcoffset() == timedelta(hours=5, minutes=30)


@pytest.mark.parametrize(
    "name",
    ["", "Mars/Olympus_Mons", "Europe", "Europe/", "europe/moscow_", "../etc/passwd", "/etc/localtime", "+03:00"],
)
def test_zone_named_refuses_unknown_names(name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        zone_named(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T10:00:00Z", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
        ("2026-11-22t10:00:00.250z", datetime(2026, 11, 22, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2026-11-22T13:00:00+03:00", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
        ("2026-11-22 05:30:00-04:30", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
    ],
)
def test_rfc3339_times_carry_an_offset(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2026-11-22T10:00:00", "2026-11-22", "2026-11-22T10:00Z", "2026-11-22T10:00:00+0300", "2026-11-22T10:00:00+03", 5],
)
def test_times_without_an_offset_or_in_other_iso_forms_are_not_rfc3339(text: object) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339(text)
