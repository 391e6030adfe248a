"""The webhook client against real servers on loopback: raw TCP servers scripted byte by byte (so that each
HTTP/1.1 edge is exactly what the test says), and a TLS one with a test CA."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trustme

from tests.support.waiting import await_until
from workers.delivery.webhook_client import MAX_ANSWER_BYTES, DeliveryFailed, Target, WebhookClient

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"

Handler = Callable[["Peer"], Awaitable[None]]


class Peer:
    """One accepted connection, as the scripted server sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(self) -> bytes:
        """One whole request (head and a content-length body); b"" when the client closed instead."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return b""
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        return head + await self.reader.readexactly(length)

    async def answer(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.port = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await self.handler(Peer(reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        # Handlers still waiting for a request are ended here, not by the loop's shutdown (which logs them).
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def url(self, path: str = "/hook", *, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@asynccontextmanager
async def serving(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        await server.stop()


def keep_answering(answer: bytes, server_requests: list[bytes] | None = None) -> Handler:
    async def handler(peer: Peer) -> None:
        while request := await peer.request():
            if server_requests is not None:
                server_requests.append(request)
            await peer.answer(answer)

    return handler


@pytest.fixture
async def client() -> AsyncIterator[WebhookClient]:
    client = WebhookClient(allow_private=True, timeout=2)
    yield client
    await client.close()


HEADERS = (("content-type", "application/json"), ("webhook-id", "evt_1"))


async def test_posts_the_body_with_its_headers_and_reuses_the_connection(client: WebhookClient) -> None:
    seen: list[bytes] = []
    async with serving(keep_answering(OK, seen)) as server:
        for body in (b'{"n": 1}', b'{"n": 2}', b'{"n": 3}'):
            answer = await client.post(server.url(), HEADERS, body)
            assert (answer.status, answer.retry_after) == (200, None)
    assert server.connections == 1
    head, _, body = seen[1].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /hook HTTP/1.1"
    assert f"host: 127.0.0.1:{server.port}".encode() in lines
    assert b"webhook-id: evt_1" in lines
    assert b"content-length: 8" in lines
    assert body == b'{"n": 2}'


async def test_concurrent_posts_open_one_connection_each_and_share_them_later(client: WebhookClient) -> None:
    async def slow(peer: Peer) -> None:
        while await peer.request():
            await asyncio.sleep(0.05)
            await peer.answer(OK)

    async with serving(slow) as server:
        for _ in range(3):
            answers = await asyncio.gather(*(client.post(server.url(), HEADERS, b"{}") for _ in range(5)))
            assert [a.status for a in answers] == [200] * 5
    assert server.connections == 5


async def test_reads_retry_after_and_any_status(client: WebhookClient) -> None:
    answer = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3 \r\ncontent-length: 0\r\n\r\n"
    async with serving(keep_answering(answer)) as server:
        result = await client.post(server.url(), HEADERS, b"{}")
    assert (result.status, result.retry_after) == (429, "3")


async def test_a_chunked_answer_keeps_the_connection(client: WebhookClient) -> None:
    chunked = b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    async with serving(keep_answering(chunked)) as server:
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 202
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 202
    assert server.connections == 1


async def test_an_answer_delimited_by_close_counts_and_the_next_post_reconnects(client: WebhookClient) -> None:
    async def once_then_close(peer: Peer) -> None:
        await peer.request()
        await peer.answer(b"HTTP/1.0 200 OK\r\n\r\nbody until the end")

    async with serving(once_then_close) as server:
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
    assert server.connections == 2


async def test_an_interim_100_continue_is_skipped(client: WebhookClient) -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nRetry-After: 9\r\n\r\n"
    async with serving(keep_answering(answer)) as server:
        result = await client.post(server.url(), HEADERS, b"{}")
        assert (result.status, result.retry_after) == (204, "9")
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 204
    assert server.connections == 1


async def test_a_huge_answer_body_is_not_read_to_its_end(client: WebhookClient) -> None:
    size = MAX_ANSWER_BYTES * 50
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size + b"x" * size
    async with serving(keep_answering(answer)) as server:
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
    assert server.connections == 2  # the first connection was closed, not drained


async def test_a_connection_the_server_closed_while_idle_is_not_used_again(client: WebhookClient) -> None:
    async def answer_then_close_when_idle(peer: Peer) -> None:
        await peer.request()
        await peer.answer(OK)  # keep-alive promised, then the server drops the idle connection

    async with serving(answer_then_close_when_idle) as server:
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
    assert server.connections == 3


async def test_a_reused_connection_closed_before_any_answer_byte_is_retried_once_on_a_new_one(
    client: WebhookClient,
) -> None:
    requests: list[bytes] = []

    async def answer_once_then_drop(peer: Peer) -> None:
        requests.append(await peer.request())
        await peer.answer(OK)
        requests.append(await peer.request())  # read, then closed unanswered (a server shutting down)

    async with serving(answer_once_then_drop) as server:
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
    assert server.connections == 2
    assert len([r for r in requests if r]) == 3  # at least once: the dropped request was sent again


@pytest.mark.parametrize("later", [False, True])
async def test_bytes_after_the_answer_retire_the_connection(client: WebhookClient, later: bool) -> None:
    async def answer_with_trailing_garbage(peer: Peer) -> None:
        while await peer.request():
            if later:
                await peer.answer(OK)
                await peer.answer(b"garbage")  # most likely read on its own, once the client is idle
            else:
                await peer.answer(OK + b"garbage")

    async with serving(answer_with_trailing_garbage) as server:
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200

        async def retired() -> bool:
            return not client._open

        await await_until(retired, timeout=5, what="the first connection closed")
        assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
    assert server.connections == 2


async def test_a_new_connection_closed_without_an_answer_fails(client: WebhookClient) -> None:
    async def drop(peer: Peer) -> None:
        await peer.request()

    async with serving(drop) as server:
        with pytest.raises(DeliveryFailed, match="closed the connection before answering"):
            await client.post(server.url(), HEADERS, b"{}")
    assert server.connections == 1


async def test_an_answer_that_is_not_http_fails(client: WebhookClient) -> None:
    async with serving(keep_answering(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")) as server:
        with pytest.raises(DeliveryFailed, match=r"not HTTP/1\.1"):
            await client.post(server.url(), HEADERS, b"{}")


async def test_a_silent_server_times_out_and_its_late_answer_reaches_no_one() -> None:
    gate = asyncio.Event()

    async def late(peer: Peer) -> None:
        while await peer.request():
            await gate.wait()
            await peer.answer(b"HTTP/1.1 500 Late\r\ncontent-length: 0\r\n\r\n")
            gate.clear()

    client = WebhookClient(allow_private=True, timeout=0.3)
    try:
        async with serving(late) as server:
            with pytest.raises(TimeoutError):
                await client.post(server.url(), HEADERS, b"{}")
            gate.set()
            server.handler = keep_answering(OK)
            assert (await client.post(server.url(), HEADERS, b"{}")).status == 200
        assert server.connections == 2
    finally:
        await client.close()


async def test_a_refused_connection_fails(client: WebhookClient) -> None:
    async with serving(keep_answering(OK)) as server:
        url = server.url()
    with pytest.raises(DeliveryFailed, match=r"cannot connect to 127\.0\.0\.1:\d+: ConnectionRefusedError: "):
        await client.post(url, HEADERS, b"{}")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433"])
async def test_forbidden_addresses_are_refused_before_connecting(host: str) -> None:
    client = WebhookClient(allow_private=False, timeout=2)
    try:
        async with serving(keep_answering(OK)) as server:
            with pytest.raises(DeliveryFailed, match="refused"):
                await client.post(f"http://{host}:{server.port}/hook", HEADERS, b"{}")
        assert server.connections == 0
    finally:
        await client.close()


async def test_the_request_target_is_percent_encoded_so_no_url_can_split_the_request(client: WebhookClient) -> None:
    seen: list[bytes] = []
    async with serving(keep_answering(OK, seen)) as server:
        url = server.url('/a b/\r\nx-injected: 1/é\x00\x7f?q=1 2&r=%41"<>#frag')
        assert (await client.post(url, HEADERS, b"{}")).status == 200
    first_line, *headers = seen[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    # CR and LF are dropped by URL parsing (as browsers do), the rest is escaped; the fragment is not sent.
    assert first_line == b"POST /a%20b/x-injected:%201/%C3%A9%00%7F?q=1%202&r=%41%22%3C%3E HTTP/1.1"
    assert not any(h.startswith(b"x-injected") for h in headers)


@pytest.mark.parametrize(
    ("url", "head"),
    [
        ("http://example.com", b"POST / HTTP/1.1\r\nhost: example.com\r\n"),
        ("https://example.com:443/x?y", b"POST /x?y HTTP/1.1\r\nhost: example.com\r\n"),
        ("http://example.com:8080/x", b"POST /x HTTP/1.1\r\nhost: example.com:8080\r\n"),
        ("http://[2606:4700::1111]:81/", b"POST / HTTP/1.1\r\nhost: [2606:4700::1111]:81\r\n"),
        ("https://bücher.example/", b"POST / HTTP/1.1\r\nhost: xn--bcher-kva.example\r\n"),
    ],
)
def test_target_of_a_url(url: str, head: bytes) -> None:
    assert Target.of(url).head == head


@pytest.mark.parametrize("url", ["ftp://example.com/", "http:///path", "http://example.com:99999/", "http://[::1/"])
def test_an_unusable_url_fails(url: str) -> None:
    with pytest.raises(DeliveryFailed):
        Target.of(url)


async def test_https_with_a_trusted_certificate_and_refusal_of_an_untrusted_one() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    async with serving(keep_answering(OK), tls=server_context) as server:
        client = WebhookClient(allow_private=True, timeout=2, ssl_context=trusting)
        try:
            assert (await client.post(server.url(scheme="https"), HEADERS, b"{}")).status == 200
            assert (await client.post(server.url(scheme="https"), HEADERS, b"{}")).status == 200
        finally:
            await client.close()
        assert server.connections == 1
        default = WebhookClient(allow_private=True, timeout=2)  # the system's trust store: the test CA is not in it
        try:
            with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await default.post(server.url(scheme="https"), HEADERS, b"{}")
        finally:
            await default.close()
