"""Stored event bodies: compact, and read back byte for byte, whatever version wrote them."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.state.event_bodies import DICTIONARY_V1, FORMAT_DEFLATE_V1, UnreadableBody, pack, unpack

# A body as the sandbox's CryptoCloud account produces it (a `raw` of about 1.4 KB).
CRYPTOCLOUD_BODY = DICTIONARY_V1.splitlines()[-1]


def test_a_typical_body_is_stored_in_a_fraction_of_its_size_and_read_back_exactly() -> None:
    body = CRYPTOCLOUD_BODY.replace(b"INV-", b"INV-Z").replace(b'"sequence":1', b'"sequence":2')
    stored = pack(body)
    assert stored[0] == FORMAT_DEFLATE_V1
    assert len(stored) < len(body) / 4
    assert unpack(stored) == body


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=200) | st.integers() | st.none(), max_size=30))
def test_any_json_body_round_trips(document: dict[str, object]) -> None:
    body = json.dumps(document, ensure_ascii=False).encode()
    assert unpack(pack(body)) == body


def test_a_body_that_would_not_shrink_is_kept_as_it_is() -> None:
    assert pack(b"{}") == b"{}"
    assert unpack(b"{}") == b"{}"


def test_bodies_written_before_compression_are_read_as_they_are() -> None:
    assert unpack(CRYPTOCLOUD_BODY) == CRYPTOCLOUD_BODY


def test_the_dictionary_is_part_of_the_stored_format_and_never_changes() -> None:
    # Bodies already in Redis were compressed against these exact bytes: a changed dictionary would make them
    # unreadable. A better dictionary must come as a new format byte beside this one.
    assert (
        hashlib.sha256(DICTIONARY_V1).hexdigest() == "943d6df3cfef1fcc4c148e3b857813def7d57f20b7c281197963779fb6302bd7"
    )
    stored_by_this_version = bytes.fromhex("0143aa8d2b30ab5db077b055a446b5b500")
    assert unpack(stored_by_this_version) == b'{"id":"evt_x","type":"invoice.paid","data":{"sequence":2}}'


@pytest.mark.parametrize("stored", [b"\x02abc", b"\x01not deflate at all", b"[1]"])
def test_an_unreadable_body_is_a_clear_error(stored: bytes) -> None:
    with pytest.raises(UnreadableBody):
        unpack(stored)
