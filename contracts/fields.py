"""Reading fields out of one provider record; every failure is a `RecordError` naming field and record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from contracts.errors import RecordError
from contracts.money import parse_amount
from contracts.times import parse_time


def record_id_of(record: object, id_field: str) -> str | None:
    """The record's id as text, for error messages, or None when it has none usable."""
    if isinstance(record, Mapping):
        value = record.get(id_field)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


@dataclass(frozen=True, slots=True)
class RecordReader:
    record: Mapping[str, Any]
    record_id: str | None

    @classmethod
    def of(cls, record: object, id_field: str) -> RecordReader:
        if not isinstance(record, Mapping):
            raise RecordError(f"expected an object, got {type(record).__name__}", field="<record>", record_id=None)
        return cls(record, record_id_of(record, id_field))

    def fail(self, name: str, problem: str) -> RecordError:
        return RecordError(problem, field=name, record_id=self.record_id)

    def identifier(self, name: str) -> str:
        """A required id: a non-empty string or an integer, as text."""
        value = self.record.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise self.fail(name, f"required id missing or not text: {value!r}")
        return str(value)

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.record.get(name)
        if value is None or value == "":
            if required:
                raise self.fail(name, "required text missing")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(name, f"expected text, got {type(value).__name__}")
        return str(value)

    def amount(self, name: str, *, required: bool = True) -> Decimal | None:
        value = self.record.get(name)
        if value is None:
            if required:
                raise self.fail(name, "required amount missing")
            return None
        try:
            return parse_amount(value)
        except ValueError as exc:
            raise self.fail(name, str(exc)) from exc

    def time(self, name: str, zone: tzinfo = UTC, *, required: bool = False) -> datetime | None:
        value = self.record.get(name)
        if value is None or value == "":
            if required:
                raise self.fail(name, "required time missing")
            return None
        try:
            return parse_time(value, zone)
        except ValueError as exc:
            raise self.fail(name, str(exc)) from exc

    def boolean(self, name: str) -> bool | None:
        value = self.record.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(name, f"expected true or false, got {value!r}")
        return value

    def mapping(self, name: str) -> Mapping[str, Any] | None:
        value = self.record.get(name)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(name, f"expected an object, got {type(value).__name__}")
        return value
