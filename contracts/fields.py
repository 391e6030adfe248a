"""Reading fields out of one provider record; every failure is a `RecordError` naming field and record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any, Literal, overload

from contracts.errors import RecordError
from contracts.money import parse_amount
from contracts.records import RawRecord
from contracts.times import parse_time


def id_text(value: object) -> str | None:
    """An id as text: a string, or an integer written out (providers send both for the same id); None for
    anything else, a bool included (`True` is an `int` to Python, never an id to a provider)."""
    if type(value) is str:  # the common case, first: a re-sync asks this of every record
        return value
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return None


def record_id_of(record: object, id_field: str) -> str | None:
    """The record's id as text, or None when it has none usable. A `RawRecord` is not parsed for it."""
    return id_text(record.get(id_field)) if isinstance(record, RawRecord | Mapping) else None


def id_field(name: str) -> Callable[[object], str | None]:
    """A `Provider.record_id` reading the id from one field, as `RecordReader.identifier` would."""

    def record_id(record: object) -> str | None:
        return record_id_of(record, name) or None

    return record_id


@dataclass(frozen=True, slots=True)
class RecordReader:
    """Typed reads of one record. Reads marked `required=True` are typed as never None: they raise instead."""

    record: Mapping[str, Any]
    record_id: str | None
    #: Where `record` sits in the provider's record, as a dotted prefix ("currency."); "" at the top. Errors
    #: name the full path, so an operator can find the field in `raw`.
    path: str = ""

    @classmethod
    def of(cls, record: object, id_field: str) -> RecordReader:
        if isinstance(record, RawRecord):  # translating needs the whole record: parse it now
            record = record.value()
        if not isinstance(record, Mapping):
            raise RecordError(f"expected an object, got {type(record).__name__}", field="<record>", record_id=None)
        return cls(record, record_id_of(record, id_field))

    def fail(self, name: str, problem: str) -> RecordError:
        return RecordError(problem, field=self.path + name, record_id=self.record_id)

    def nested(self, name: str) -> RecordReader:
        """The object under `name`, read like the record itself; its failures name the dotted path
        (`currency.symbol`). An absent object reads as an empty one, so a field required inside it is
        reported by its full path rather than as a missing parent."""
        inner = self.mapping(name)
        return RecordReader({} if inner is None else inner, self.record_id, f"{self.path}{name}.")

    def identifier(self, name: str) -> str:
        """A required id: a non-empty string or an integer, as text."""
        value = self.record.get(name)
        text = id_text(value)
        if text is None or text == "":
            raise self.fail(name, f"required id missing or not text: {value!r}")
        return text

    @overload
    def text(self, name: str, *, required: Literal[True]) -> str: ...
    @overload
    def text(self, name: str, *, required: bool = False) -> str | None: ...
    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.record.get(name)
        if value is None or value == "":
            if required:
                raise self.fail(name, "required text missing")
            return None
        text = id_text(value)
        if text is None:
            raise self.fail(name, f"expected text, got {type(value).__name__}")
        return text

    # Required by default, unlike the others: an invoice without an amount cannot be placed.
    @overload
    def amount(self, name: str, *, required: Literal[True] = True) -> Decimal: ...
    @overload
    def amount(self, name: str, *, required: bool) -> Decimal | None: ...
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

    @overload
    def time(self, name: str, zone: tzinfo = UTC, *, required: Literal[True]) -> datetime: ...
    @overload
    def time(self, name: str, zone: tzinfo = UTC, *, required: bool = False) -> datetime | None: ...
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
