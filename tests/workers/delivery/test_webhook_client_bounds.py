"""The webhook client against hostile subscribers: everything a subscriber can send is bounded (the status
line, each header line, the head, interim answers, what follows the head), counted before the parser buffers
it. Attacks run against scripted raw TCP servers on loopback; the bounds themselves are checked exactly by
feeding one connection reads split as each test says."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httptools
import pytest

from tests.support.waiting import await_until
from tests.workers.delivery.test_webhook_client import HEADERS, OK, Handler, Peer, Server, keep_answering, serving
from workers.delivery.webhook_client import (
    MAX_HEAD_BYTES,
    MAX_INTERIM_ANSWERS,
    MAX_LINE_BYTES,
    Answer,
    DeliveryFailed,
    WebhookClient,
    _Connection,
)

INTERIM = b"HTTP/1.1 100 Continue\r\n\r\n"


def endless(start: bytes, repeated: bytes, *, pause: float = 0.0) -> Handler:
    """Reads one request, sends `start`, then `repeated` until the client goes away."""

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.answer(start)
        while True:
            await peer.answer(repeated)
            if pause:
                await asyncio.sleep(pause)  # the server's pace, not a wait for anything

    return handler


async def assert_retired(client: WebhookClient, server: Server) -> None:
    """The attacked connection is closed and out of the pool; the same origin, behaving again, is served on a
    new connection."""
    assert not any(client._idle.values())

    async def closed() -> bool:
        return not client._open

    await await_until(closed, timeout=5, what="the attacked connection closed")
    server.handler = keep_answering(OK)
    assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
    assert server.connections == 2


ATTACKS = {
    "status line": (b"HTTP/1.1 200 ", b"O" * 4096, f"sent a status line longer than {MAX_LINE_BYTES} bytes"),
    "header value": (b"HTTP/1.1 200 OK\r\nx-endless: ", b"a" * 4096, f"header line longer than {MAX_LINE_BYTES}"),
    "headers": (b"HTTP/1.1 200 OK\r\n", b"x-many: 1\r\n" * 400, f"answer head longer than {MAX_HEAD_BYTES} bytes"),
    "interim answers": (b"", INTERIM * 20, f"more than {MAX_INTERIM_ANSWERS} interim \\(1xx\\) answers"),
}


@pytest.mark.parametrize("attack", ATTACKS)
async def test_an_endless_answer_fails_the_attempt_at_its_bound(attack: str) -> None:
    start, repeated, message = ATTACKS[attack]
    client = WebhookClient(allow_private=True, timeout=3)
    try:
        async with serving(endless(start, repeated)) as server:
            with pytest.raises(DeliveryFailed, match=message) as failure:
                await client.post(server.url(), HEADERS, b"{}")  # a bound, not the attempt's timeout
            assert "x-endless" not in str(failure.value)
            assert "aaa" not in str(failure.value)
            await assert_retired(client, server)
    finally:
        await client.close()


async def test_endless_trailers_leave_the_answer_unread_and_the_connection_closed() -> None:
    client = WebhookClient(allow_private=True, timeout=3)
    start = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx-trailer: "
    try:
        async with serving(endless(start, b"a" * 4096)) as server:
            assert (await client.post(server.url(), HEADERS, b"{}")).status == 200  # the status line is the answer
            await assert_retired(client, server)
    finally:
        await client.close()


async def test_a_trickling_answer_ends_at_the_attempts_timeout() -> None:
    client = WebhookClient(allow_private=True, timeout=0.5)
    try:
        async with serving(endless(b"HTTP/1.1 200 OK\r\nx-slow: ", b"a", pause=0.05)) as server:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await client.post(server.url(), HEADERS, b"{}")
            assert time.monotonic() - started < 2
            await assert_retired(client, server)
    finally:
        await client.close()


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from the current RSS


def status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB$", Path("/proc/self/status").read_text(), re.MULTILINE)
    assert match is not None
    return int(match.group(1))


async def test_an_endless_header_does_not_grow_the_process() -> None:
    """The attack that grew a worker from 60 MB to 2.36 GB, at full speed: the peak RSS stays put."""
    client = WebhookClient(allow_private=True, timeout=3)
    try:
        async with serving(endless(b"HTTP/1.1 200 OK\r\nx-endless: ", b"a" * 65536)) as server:
            reset_peak_rss()
            before = status_kib("VmRSS")
            with pytest.raises((DeliveryFailed, TimeoutError)) as failure:
                await client.post(server.url(), HEADERS, b"{}")
            grown = status_kib("VmHWM") - before
            assert grown < 20 * 1024, f"the peak RSS grew by {grown} kB"
            assert failure.match("header line longer")
    finally:
        await client.close()


# --- the bounds exactly, with reads split as each test says ------------------------------------------------


class SplitTransport(asyncio.Transport):
    """The socket under one connection, replaced so that a test decides how its answer is split into reads."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


class CountingParser(httptools.HttpResponseParser):
    """The connection's parser, counting the bytes it is given."""

    def __init__(self, protocol: _Connection) -> None:
        super().__init__(protocol)
        self.fed = 0

    def feed_data(self, data: bytes | bytearray | memoryview) -> None:
        self.fed += len(data)
        super().feed_data(data)


@dataclass(frozen=True)
class Reading:
    exchange: asyncio.Future[Answer]
    client: WebhookClient
    transport: SplitTransport
    parser: CountingParser


async def read_in_pieces(answer: bytes, piece: int) -> Reading:
    """One exchange on a fresh connection, its answer given to it in reads of `piece` bytes; the exchange is
    done when this returns."""
    client = WebhookClient(allow_private=True, timeout=1)
    connection = _Connection(client, ("http", "127.0.0.1", 80))
    connection.parser = parser = CountingParser(connection)
    transport = SplitTransport()
    connection.connection_made(transport)
    exchange = asyncio.ensure_future(connection.exchange(b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n"))
    await asyncio.sleep(0)  # one turn of the loop: the exchange has sent its request and waits
    assert connection.waiter is not None
    for start in range(0, len(answer), piece):
        connection.data_received(answer[start : start + piece])
        if connection.waiter is None:
            break
    await asyncio.wait_for(asyncio.wait([exchange]), timeout=1)
    return Reading(exchange, client, transport, parser)


def status_line(size: int) -> bytes:
    return b"HTTP/1.1 200 " + b"O" * (size - 15) + b"\r\n"


def header_line(size: int) -> bytes:
    return b"x-pad: " + b"a" * (size - 9) + b"\r\n"


def head(size: int, *, status: int = MAX_LINE_BYTES) -> bytes:
    """A final answer's head of `size` bytes: a status line of `status` bytes, Retry-After, and header lines of
    at most MAX_LINE_BYTES (all of them but the last exactly that long)."""
    fixed = status_line(status) + b"retry-after: 7\r\ncontent-length: 0\r\n"
    room = size - len(fixed) - 2
    full, rest = divmod(room, MAX_LINE_BYTES)
    return fixed + header_line(MAX_LINE_BYTES) * full + header_line(rest) + b"\r\n"


AT_THE_BOUNDS = INTERIM * MAX_INTERIM_ANSWERS + head(MAX_HEAD_BYTES)
PIECES = pytest.mark.parametrize(
    "piece", [1000, 7, len(AT_THE_BOUNDS)], ids=["1000-byte reads", "7-byte reads", "one read"]
)


@PIECES
async def test_an_answer_at_every_bound_is_read_and_keeps_its_connection(piece: int) -> None:
    assert len(head(MAX_HEAD_BYTES)) == MAX_HEAD_BYTES
    reading = await read_in_pieces(AT_THE_BOUNDS, piece)
    assert (reading.exchange.result().status, reading.exchange.result().retry_after) == (200, "7")
    assert not reading.transport.closing
    assert sum(map(len, reading.client._idle.values())) == 1


#: An answer one byte (or one interim answer) over a bound, what the failure says, and how many of its bytes
#: the parser may see at most: none past the bound.
OVER_A_BOUND = {
    "status line": (status_line(MAX_LINE_BYTES + 1) + b"\r\n", "a status line longer than", MAX_LINE_BYTES),
    "header line": (
        b"HTTP/1.1 200 OK\r\n" + header_line(MAX_LINE_BYTES + 1) + b"\r\n",
        "a header line longer than",
        17 + MAX_LINE_BYTES,
    ),
    "head": (head(MAX_HEAD_BYTES + 1), "an answer head longer than", MAX_HEAD_BYTES),
    "interim answers": (
        INTERIM * (MAX_INTERIM_ANSWERS + 1) + head(100, status=17),
        "interim",
        len(INTERIM) * (MAX_INTERIM_ANSWERS + 1),
    ),
}


@PIECES
@pytest.mark.parametrize("bound", OVER_A_BOUND)
async def test_one_byte_over_a_bound_fails_and_closes(bound: str, piece: int) -> None:
    data, message, most_fed = OVER_A_BOUND[bound]
    reading = await read_in_pieces(data, piece)
    with pytest.raises(DeliveryFailed, match=message):
        reading.exchange.result()
    assert reading.parser.fed <= most_fed  # counted before the parser buffered it
    assert reading.transport.closing
    assert not any(reading.client._idle.values())
