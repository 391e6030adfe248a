"""uvicorn's httptools protocol with bounds on what a client may send besides a body, and for how long.

`uvicorn --http service.web.http_protocol:BoundedHttpToolsProtocol` (the Procfile's `web`). Plain uvicorn
with httptools buffers a request head without limit (httptools joins a header's pieces as they arrive,
so an endless header costs memory and quadratic CPU) and waits for it forever: eight clients streaming
one endless header held a web process at 100% CPU and 320 MB, and `/readyz` took 23 s. uvicorn's h11
protocol bounds the head's size but not its time, and costs callback throughput (see BENCHMARKS.md).

Per connection, this protocol:

- closes it with 431 once more than HEAD_LIMIT_BYTES arrived without a complete head, and likewise
  for a run of bytes that carry no body (chunk framing, trailers: httptools buffers trailers like
  headers);
- closes it when the head of a request is not complete within `--timeout-keep-alive` seconds of the
  connection opening, of the request's first byte, or of a late request body's end: a connection
  without a complete request head counts as idle, however it trickles (slowloris);
- closes it when a request was answered but the rest of its body has not arrived within
  `--timeout-keep-alive` seconds (uvicorn reads and discards it without a time limit otherwise).

The time the application spends reading a body is the application's to bound (`/webhooks` answers 408).
Each bound is checked once per socket read, so at most HEAD_LIMIT_BYTES plus one read (uvloop and asyncio
read up to 256 KiB at a time) is buffered, and a request that arrives in one read arms no timer.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

#: The most a request head (request line and headers) may take, as nginx's default
#: `large_client_header_buffers 4 8k`; h11's own limit is 16 KiB.
HEAD_LIMIT_BYTES = 32 * 1024

_HEAD_TOO_LARGE = (
    STATUS_LINE[431] + b"content-type: text/plain; charset=utf-8\r\ncontent-length: 31\r\n"
    b"connection: close\r\n\r\nRequest header fields too large"
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HttpToolsProtocol, closing connections whose head is too large or too slow (see module)."""

    #: Bytes received since the last body byte or the end of the last head: a head's or a trailer's so far.
    _bytes_without_body = 0
    #: True from a connection's start, and from each request's end, until the next request's head is complete.
    _awaiting_head = True
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        super().connection_lost(exc)

    # The common request arrives whole in one read: on that path each method below only sets and compares
    # attributes (measured in process: ~3 us per request over uvicorn's own ~31 us; see BENCHMARKS.md).
    def data_received(self, data: bytes) -> None:
        self._bytes_without_body += len(data)
        super().data_received(data)
        if not self._bytes_without_body or self.transport.is_closing():
            return
        if self._bytes_without_body > HEAD_LIMIT_BYTES:
            self._refuse_oversized()
        elif self._awaiting_head and self._deadline is None:
            # The first bytes of a head after an idle keep-alive wait (which uvicorn's timer bounded).
            self._arm_deadline()

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._bytes_without_body = 0
        if self._deadline is not None:
            self._disarm_deadline()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._bytes_without_body = 0
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._awaiting_head = True
        self._bytes_without_body = 0
        if self._deadline is not None:
            self._disarm_deadline()
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete and not self._upgrading():
            # The body ended after its answer: uvicorn's keep-alive timer was armed then, and the body's
            # bytes cancelled it; the connection now waits for its next head like one that just opened.
            self._arm_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._awaiting_head and self.cycle.response_complete and not self.transport.is_closing():
            # Answered before its body arrived: the rest is only discarded, and gets the keep-alive time.
            self._arm_deadline()

    def _upgrading(self) -> bool:
        """The request hands the connection to the WebSocket protocol, which has timeouts of its own."""
        return bool(self.parser.should_upgrade()) and self._should_upgrade()

    def _arm_deadline(self) -> None:
        self._disarm_deadline()
        self._deadline = self.loop.call_later(self.timeout_keep_alive, self._deadline_passed)

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse_oversized(self) -> None:
        self.logger.warning(
            "Request head or trailers over %d bytes: connection closed after %d bytes of them.",
            HEAD_LIMIT_BYTES,
            self._bytes_without_body,
        )
        if self._awaiting_head and (self.cycle is None or self.cycle.response_complete):
            # No answer in flight on this connection, so a 431 cannot interleave with one.
            self.transport.write(_HEAD_TOO_LARGE)
        self.transport.close()
