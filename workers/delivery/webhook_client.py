"""A small HTTP/1.1 client for webhook deliveries: one POST, its status and `Retry-After`, nothing else.

Why not aiohttp here: a delivery needs the answer's status line and one header, and aiohttp's general
request machinery (request and response objects, multidicts, payload registry, traces) was measured as
most of a delivery's CPU; this client sends the same POST for about half of aiohttp's cost. aiohttp stays
for provider calls, where the body matters.

What it does: keep-alive connections pooled per origin (plain or TLS, verified with the default trust
store), answers parsed by httptools (llhttp, the parser uvicorn uses), and the SSRF rule applied to every
address it connects to (names and IP literals alike) unless private targets are allowed. Redirects are
never followed: this client has no notion of them.

A subscriber is untrusted, so everything it can send is bounded, counted as the bytes arrive and before the
parser sees them (httptools joins a header's pieces by copying, so an endless header fed whole would cost
memory and quadratic CPU): the status line and each header line, the head as a whole, the number of
interim (1xx) answers, and what follows the head (body, chunk framing, trailers). Time is bounded by the
attempt's timeout, which covers the whole exchange, a trickle of bytes included. Past a size bound the
connection is closed at once and the attempt fails, except after the head, where the status is already
the answer and only the rest is left unread.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

import httptools

from service.ssrf import ForbiddenTarget, connectable

#: What follows an answer's head (body, chunk framing, trailers) is read up to this size, for nothing but
#: connection reuse; a longer one closes the connection instead.
MAX_ANSWER_BYTES = 64 * 1024
#: The longest status line or header line, its CRLF included (what aiohttp and nginx allow, about).
MAX_LINE_BYTES = 8 * 1024
#: The longest head: status line, headers and the blank line that ends them.
MAX_HEAD_BYTES = 64 * 1024
#: Interim answers (100 Continue, 103 Early Hints) skipped before the real one; one more fails the attempt.
MAX_INTERIM_ANSWERS = 8
#: An idle connection older than this is closed rather than reused (servers drop idle ones after
#: 5-75 s; one they already closed is noticed when its FIN arrives, this bounds what is kept).
IDLE_S = 30.0
#: Characters kept as they are in a request target; anything else (spaces, CR/LF, non-ASCII) is
#: percent-encoded, so that a stored URL can never split the request line.
_TARGET_SAFE = "/%!$&'()*+,;=:@-._~?"


class DeliveryFailed(Exception):
    """No HTTP answer: the URL, the connection or the answer was unusable. The message is what the
    delivery log shows (it names hosts and ports, never a header or body)."""


def _cause(exc: BaseException) -> str:
    """An error as the delivery log shows it: its class and message ("ConnectionRefusedError: [Errno 111] ...")."""
    return f"{type(exc).__name__}: {exc}"


class _Stale(Exception):
    """A reused connection closed before the first byte of an answer: the server dropped it while idle."""


#: The start of an answer's body kept for the delivery log (what a subscriber says when it refuses).
ANSWER_EXCERPT_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None
    #: The first ANSWER_EXCERPT_BYTES of the body (decoded from chunked framing).
    excerpt: bytes = b""


@dataclass(frozen=True, slots=True)
class Target:
    """Everything a request needs from its URL, worked out once per URL."""

    origin: tuple[str, str, int]
    host: str
    port: int
    tls: bool
    head: bytes

    @staticmethod
    @lru_cache(maxsize=1024)
    def of(url: str) -> Target:
        try:
            parts = urlsplit(url)
            port = parts.port
            host = parts.hostname
            ascii_host = host.encode("idna").decode("ascii") if host and not host.isascii() else host
        except (ValueError, UnicodeError) as exc:
            raise DeliveryFailed("the subscription URL is not a valid URL") from exc
        if parts.scheme not in ("http", "https") or not ascii_host:
            raise DeliveryFailed("the subscription URL is not an http(s) URL with a host")
        tls = parts.scheme == "https"
        port = port or (443 if tls else 80)
        shown = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
        host_header = shown if port == (443 if tls else 80) else f"{shown}:{port}"
        target = quote(parts.path or "/", safe=_TARGET_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_TARGET_SAFE)
        head = f"POST {target} HTTP/1.1\r\nhost: {host_header}\r\n".encode("ascii")
        return Target((parts.scheme, ascii_host, port), ascii_host, port, tls, head)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one exchange at a time."""

    def __init__(self, client: WebhookClient, origin: tuple[str, str, int]) -> None:
        self.client = client
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        self.idle_since = 0.0
        self.reused = False
        self._status: int | None = None
        self._retry_after: str | None = None
        self._excerpt = bytearray()
        self._received = False
        # Where the answer stands: in a head (bytes of it so far, of its current line so far) or after it.
        self._in_head = True
        self._head_bytes = 0
        self._line_bytes = 0
        self._after_head_bytes = 0
        self._interim_answers = 0

    # --- the exchange -----------------------------------------------------------------------------------

    async def exchange(self, request: bytes) -> Answer:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self._status, self._retry_after, self._received, self._interim_answers = None, None, False, 0
        self._excerpt.clear()
        self._expect_head()
        self.transport.write(request)
        return await self.waiter

    def _expect_head(self) -> None:
        self._in_head, self._head_bytes, self._line_bytes = True, 0, 0

    def _answer(self, *, reusable: bool) -> None:
        waiter, self.waiter = self.waiter, None
        assert self._status is not None
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(self._status, self._retry_after, bytes(self._excerpt)))
        if reusable:
            self.client._release(self)
        else:
            self.close()

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing() and self.waiter is None

    # --- asyncio.Protocol -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self.close()  # bytes nobody asked for: the connection can no longer be trusted to line up
            return
        self._received = True
        try:
            self._feed(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            if self.waiter is None:
                self.close()  # answered, then garbage: never reused
            elif self._status is not None:
                self._answer(reusable=False)  # the status line parsed: that is the answer
            else:
                self._fail(DeliveryFailed(f"{self._where()} sent an answer that is not HTTP/1.1"))

    def _feed(self, data: bytes) -> None:
        """Feeds the parser a head one line (or one whole head) at a time, checked against the bounds before the
        parser sees it (the parser alone says where a head ends), then what follows a head up to its bound."""
        position, size = 0, len(data)
        while self._in_head:
            if self.waiter is None:
                return  # failed inside the parser (too many interim answers): the connection is closed
            if position == size:
                return
            line_room = MAX_LINE_BYTES - self._line_bytes
            head_room = MAX_HEAD_BYTES - self._head_bytes
            room = min(line_room, head_room)
            # Most heads come whole in one read and shorter than one line may be: fed at once, as no line in
            # them can be over its bound. Tried where a head starts only, so an endless one is not rescanned.
            head_end = data.find(b"\r\n\r\n", position, position + room) if self._head_bytes == 0 else -1
            newline = head_end + 3 if head_end >= 0 else data.find(b"\n", position, position + room)
            if newline >= 0:
                end = newline + 1
                self._line_bytes = 0
            elif size - position < room:  # the line goes on in the next read
                end = size
                self._line_bytes += end - position
            else:
                self._fail(DeliveryFailed(self._over_bound(line_bound=line_room <= head_room)))
                return
            self._head_bytes += end - position
            self.parser.feed_data(data[position:end])
            position = end
        if position < size:
            end = min(size, position + MAX_ANSWER_BYTES - self._after_head_bytes)
            self._after_head_bytes += end - position
            self.parser.feed_data(data[position:end])
            if end < size:  # more than an answer may hold: left unread, the connection closed
                if self.waiter is not None:
                    self._answer(reusable=False)
                else:
                    self.close()

    def _over_bound(self, *, line_bound: bool) -> str:
        if not line_bound:
            return f"{self._where()} sent an answer head longer than {MAX_HEAD_BYTES} bytes"
        line = "status line" if self._line_bytes == self._head_bytes else "header line"
        return f"{self._where()} sent a {line} longer than {MAX_LINE_BYTES} bytes"

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._forget(self)
        if self.waiter is None:
            return
        if self._status is not None:
            self._answer(reusable=False)  # a body delimited by the close: the status line is what counts
        elif self.reused and not self._received:
            self._fail(_Stale())
        else:
            reason = f": {_cause(exc)}" if exc else ""
            self._fail(DeliveryFailed(f"{self._where()} closed the connection before answering{reason}"))

    # --- httptools callbacks ----------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._retry_after is None and name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1").strip()

    def on_body(self, body: bytes) -> None:
        room = ANSWER_EXCERPT_BYTES - len(self._excerpt)
        if room > 0:
            self._excerpt += body[:room]

    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()
        self._in_head, self._after_head_bytes = False, 0

    def on_message_complete(self) -> None:
        if self._status is not None and 100 <= self._status < 200 and self._status != 101:
            # An interim answer (100 Continue): the real one follows.
            self._status, self._retry_after = None, None
            self._excerpt.clear()
            self._expect_head()
            self._interim_answers += 1
            if self._interim_answers > MAX_INTERIM_ANSWERS:
                self._fail(
                    DeliveryFailed(f"{self._where()} sent more than {MAX_INTERIM_ANSWERS} interim (1xx) answers")
                )
            return
        if self.waiter is not None:
            self._answer(reusable=self._status != 101 and self.parser.should_keep_alive())

    def _where(self) -> str:
        return f"{self.origin[1]}:{self.origin[2]}"


class WebhookClient:
    """Pooled keep-alive connections to subscribers. `allow_private` lifts the SSRF rule (RELAY_ALLOW_PRIVATE_URLS)."""

    def __init__(self, *, allow_private: bool, timeout: float, ssl_context: ssl.SSLContext | None = None) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self._ssl = ssl_context or ssl.create_default_context()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()

    async def post(self, url: str, headers: Sequence[tuple[str, str]], body: bytes) -> Answer:
        """POST `body`; the answer's status and Retry-After. Raises `DeliveryFailed` when no answer came,
        `TimeoutError` when none came within `timeout` seconds (connecting included)."""
        target = Target.of(url)
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
        request = target.head + f"{lines}content-length: {len(body)}\r\n\r\n".encode("latin-1") + body
        async with asyncio.timeout(self.timeout):
            while True:
                connection = self._take(target.origin) or await self._connect(target)
                try:
                    return await connection.exchange(request)
                except _Stale:
                    continue  # nothing reached the subscriber: the same request on another connection
                except BaseException:
                    connection.close()  # a timeout or cancel mid-exchange: its answer must not reach the next one
                    raise

    async def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports run their close callbacks

    # --- the pool ---------------------------------------------------------------------------------------

    def _take(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        oldest_kept = time.monotonic() - IDLE_S
        while idle:
            connection = idle.pop()
            if connection.usable and connection.idle_since >= oldest_kept:
                connection.reused = True
                return connection
            connection.close()
        return None

    def _release(self, connection: _Connection) -> None:
        if connection.usable:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, []).append(connection)

    def _forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        idle = self._idle.get(connection.origin)
        if idle and connection in idle:
            idle.remove(connection)

    async def _connect(self, target: Target) -> _Connection:
        loop = asyncio.get_running_loop()
        failure: OSError | None = None
        for address in await self._addresses(target):
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, target.origin),
                    host=address,
                    port=target.port,
                    ssl=self._ssl if target.tls else None,
                    server_hostname=target.host if target.tls else None,
                )
            except OSError as exc:  # ssl.SSLError included: a certificate that does not verify
                failure = exc
                continue
            self._open.add(connection)
            return connection
        reason = "no address to connect to" if failure is None else _cause(failure)
        raise DeliveryFailed(f"cannot connect to {target.host}:{target.port}: {reason}")

    async def _addresses(self, target: Target) -> list[str]:
        """Where the host resolves to (an IP literal to itself), minus forbidden addresses: checked on every
        new connection, so a name rebound to an inside address is refused when it would be used."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise DeliveryFailed(f"cannot resolve {target.host}: {_cause(exc)}") from exc
        resolved = dict.fromkeys(str(info[4][0]) for info in infos)  # each address once, in resolver order
        try:
            return connectable(target.host, resolved, allow_private=self.allow_private)
        except ForbiddenTarget as exc:
            raise DeliveryFailed(str(exc)) from exc
