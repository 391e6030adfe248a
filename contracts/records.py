"""List answers read shallowly: each record stays the exact JSON text it arrived as until it is needed.

A re-sync reads every record of an account but translates almost none (most are what their snapshot was
made from). Parsing each page in full, only to encode every record again for its digest, was most of an
unchanged re-sync's CPU; kept as its bytes, a record is digested as it arrived and only its id is read out
of it. A record is parsed in full only to be translated.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import msgspec

from contracts.jsonio import loads_exact

#: Bodies whose top level is an object or an array, each value left as its exact text. msgspec still
#: checks the syntax of every value it leaves unparsed (not its UTF-8: see `loads_records`).
_SHALLOW = msgspec.json.Decoder(dict[str, msgspec.Raw] | list[msgspec.Raw])
_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
_UNPARSED: Any = object()


class RawRecord:
    """One record of a list answer, as its exact JSON text (`body`, a slice of the page's body or bytes).

    `body` must be valid JSON (`loads_records` makes sure of it); `value()` is the full parse. A record may
    come with one field already read (its id, read for the whole page in one pass).
    """

    __slots__ = ("_known_name", "_known_value", "_value", "body")

    def __init__(self, body: bytes, known: tuple[str, Any] | None = None) -> None:
        self.body = body
        self._value = _UNPARSED
        self._known_name: str | None = None
        self._known_value: Any = None
        if known is not None:
            self._known_name, self._known_value = known

    def __repr__(self) -> str:
        return f"RawRecord({bytes(self.body)!r})"

    def value(self) -> Any:
        """The record parsed like `loads_exact` parses it (once; later calls return the same object)."""
        if self._value is _UNPARSED:
            self._value = loads_exact(self.body)
        return self._value

    def get(self, name: str) -> Any:
        """The value of one top-level field (None when absent or when the record is not an object),
        read without parsing the rest of the record."""
        if name == self._known_name:
            return self._known_value
        decoder = _field_decoder(name)
        if decoder is None or self._value is not _UNPARSED:
            value = self.value()
            return value.get(name) if isinstance(value, dict) else None
        try:
            found: Any = decoder.decode(self.body)
        except msgspec.ValidationError:  # not an object
            return None
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
            raise ValueError(f"invalid JSON: {exc}") from exc
        return found.value


@cache
def _field_struct(name: str) -> type[msgspec.Struct] | None:
    # A struct of the one field: msgspec skips every other field without building it, about 3x faster
    # than decoding the record into a dict of raw values and picking one. Duplicate keys: the last wins,
    # as in `loads_exact`.
    try:
        return msgspec.defstruct("Field", [("value", Any, None)], rename={"value": name})
    except ValueError:  # a name msgspec cannot match (a quote, backslash or control character in it)
        return None


@cache
def _field_decoder(name: str) -> msgspec.json.Decoder[Any] | None:
    field = _field_struct(name)
    return None if field is None else msgspec.json.Decoder(field, float_hook=Decimal)


@cache
def _field_list_decoder(name: str) -> msgspec.json.Decoder[list[Any]] | None:
    field = _field_struct(name)
    return None if field is None else msgspec.json.Decoder(list[field], float_hook=Decimal)  # type: ignore[valid-type]


def loads_records(body: bytes, id_field: str | None = None) -> Any:
    """A list answer parsed like `loads_exact`, except for its records: a top-level array becomes a list
    of `RawRecord`, and so does every array directly under a top-level object (the envelope's records);
    the envelope's other values are parsed in full. Raises `ValueError` on invalid JSON, as `loads_exact`.

    With `id_field`, every record's value of that field is read in one pass over its array (a re-sync
    reads every record's id and nothing else of most records), and `get(id_field)` returns it.
    """
    try:
        document = _SHALLOW.decode(body)
    except msgspec.ValidationError:  # a scalar: nothing to keep raw
        return loads_exact(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc
    if not body.isascii():
        # msgspec does not check the UTF-8 of text it leaves raw; a page `loads_exact` would refuse is
        # refused whole here too, not record by record later.
        try:
            body.decode()
        except UnicodeDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from exc
    if isinstance(document, list):
        return _records(body, document, id_field)
    return {key: _records_or_value(value, id_field) for key, value in document.items()}


def _records_or_value(value: msgspec.Raw, id_field: str | None) -> Any:
    # A Raw value starts at its first character, never at whitespace.
    if memoryview(value)[0] == ord("["):
        return _records(value, _ARRAY.decode(value), id_field)
    return loads_exact(value)


def _records(array: bytes | msgspec.Raw, items: list[msgspec.Raw], id_field: str | None) -> list[RawRecord]:
    decoder = _field_list_decoder(id_field) if id_field is not None else None
    if id_field is not None and decoder is not None:
        try:
            ids = decoder.decode(array)
        except msgspec.ValidationError:  # an item that is not an object: ids are read one by one instead
            pass
        else:
            return [RawRecord(item, (id_field, found.value)) for item, found in zip(items, ids, strict=True)]
    return [RawRecord(item) for item in items]
