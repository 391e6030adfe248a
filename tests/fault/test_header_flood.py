"""Clients that never finish a request head, against a real web process started from the Procfile's line.

Plain uvicorn with httptools buffered an endless header without limit: eight such connections held the web
at 100% CPU and 320 MB, and `/readyz` took 23 s. The web's HTTP protocol
(`service.web.http_protocol.BoundedHttpToolsProtocol`) cuts each after HEAD_LIMIT_BYTES plus one socket
read, and closes a connection whose head is not complete within `--timeout-keep-alive` seconds, shortened
here from the Procfile's 5 to keep the test short.
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from service.web.http_protocol import HEAD_LIMIT_BYTES
from tests.support.relay import Relay
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

SECRET = "flood-cryptocloud-secret-key-0123456789abcdef"
ACCOUNTS = f"""
[accounts.shop]
provider = "cryptocloud"
api_key = "flood-api-key"
secret_key = "{SECRET}"
base_url = "http://127.0.0.1:9"
poll_interval = 0
"""
FLOODERS = 8
#: A flooding connection gives up after this long if the server has not cut it.
FLOOD_FOR_S = 3.0
#: The web's head deadline here (uvicorn's --timeout-keep-alive, an integer).
HEAD_DEADLINE_S = 1
#: Every other request is answered within this while the attack runs.
ANSWER_WITHIN_S = 0.1
RSS_LIMIT_MB = 150
#: asyncio reads a socket up to 256 KiB at a time; the guard checks after each read.
ONE_READ = 256 * 1024
CALLBACK_HEAD = b"POST /webhooks/shop HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"


@dataclass
class Flood:
    """What one flooding connection managed to send before the server cut it (or FLOOD_FOR_S passed)."""

    sent: int = 0
    cut: bool = False
    seconds: float = 0.0


def flood(port: int, opening: bytes, result: Flood) -> None:
    """Send `opening`, then `a` bytes without end, until the connection fails or FLOOD_FOR_S pass."""
    began = time.monotonic()
    chunk = b"a" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(0.25)  # a stalled server must not hold the loop past its end
        try:
            sock.sendall(opening)
            while time.monotonic() - began < FLOOD_FOR_S:
                try:
                    result.sent += sock.send(chunk)
                except TimeoutError:
                    continue
        except (BrokenPipeError, ConnectionResetError):
            result.cut = True
    result.seconds = time.monotonic() - began


def signed_postback() -> bytes:
    token = jwt.encode({"id": "INV-FLOOD001", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    return json.dumps({"status": "success", "invoice_id": "FLOOD001", "token": token}).encode()


@contextmanager
def probing(url: str) -> Iterator[list[tuple[str, float]]]:
    """Until the block ends, `/healthz`, `/readyz` and a signed callback in turn, each on a new connection:
    the list fills with (request, seconds to its answer). A failed request fails the block."""
    timings: list[tuple[str, float]] = []
    failures: list[BaseException] = []
    stop = threading.Event()
    body = signed_postback()
    requests: list[tuple[str, Callable[[httpx.Client], httpx.Response]]] = [
        ("GET /healthz", lambda c: c.get("/healthz")),
        ("GET /readyz", lambda c: c.get("/readyz")),
        ("POST /webhooks/shop", lambda c: c.post("/webhooks/shop", content=body)),
    ]

    def probe() -> None:
        fresh = httpx.Limits(max_keepalive_connections=0)
        try:
            with httpx.Client(base_url=url, timeout=5, limits=fresh) as client:
                while not stop.is_set():
                    for name, send in requests:
                        began = time.monotonic()
                        answer = send(client)
                        assert answer.status_code < 300, (name, answer.status_code, answer.text)
                        timings.append((name, time.monotonic() - began))
        except BaseException as exc:
            failures.append(exc)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        yield timings
    finally:
        stop.set()
        prober.join(timeout=30)
    if failures:
        raise failures[0]


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None, status
    return int(match.group(1)) / 1024


def closed_by_server(sock: socket.socket, within: float) -> float | None:
    """The monotonic time the server closed `sock` (what it sends is read and dropped); None if it did not
    within `within` seconds."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        if select.select([sock], [], [], left)[0]:
            try:
                if sock.recv(65536) == b"":
                    return time.monotonic()
            except ConnectionResetError:
                return time.monotonic()
    return None


@pytest.fixture
def relay(redis_url: str) -> Iterator[Relay]:
    relay = Relay(redis_url, ACCOUNTS)
    try:
        relay.start_web("--timeout-keep-alive", str(HEAD_DEADLINE_S))
        yield relay
    finally:
        relay.stop()


def test_endless_heads_and_trailers_are_cut_while_everyone_else_is_answered(relay: Relay) -> None:
    """Eight connections stream an endless header, a ninth an endless trailer after a chunked body."""
    assert relay.web is not None
    openings = [CALLBACK_HEAD + b"X-Flood: "] * FLOODERS
    openings.append(CALLBACK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Trailer: ")
    floods = [Flood() for _ in openings]
    threads = [
        threading.Thread(target=flood, args=(relay.port, opening, result), daemon=True)
        for opening, result in zip(openings, floods, strict=True)
    ]
    with probing(relay.url) as timings:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=FLOOD_FOR_S + 5)
        # And right after the attack (a parser still digesting buffered headers would not answer).
        wait_until(lambda: len(timings) >= 30, timeout=10, what="30 answers")

    slowest = max(timings, key=lambda timing: timing[1])
    cut_after = [int(n) for n in re.findall(r"connection closed after (\d+) bytes", relay.web.log())]
    print(
        f"client bytes before the cut (socket buffers included): {[f.sent for f in floods]}; "
        f"server bytes read at the cut: {cut_after}; {len(timings)} answers, slowest {slowest}; "
        f"web peak RSS {peak_rss_mb(relay.web.pid):.0f} MB"
    )
    assert all(f.cut for f in floods), f"not cut within {FLOOD_FOR_S}s: {floods}"
    assert len(cut_after) == len(floods), relay.web.log()[-4000:]
    assert all(n <= HEAD_LIMIT_BYTES + ONE_READ for n in cut_after), cut_after
    assert slowest[1] < ANSWER_WITHIN_S, f"{slowest[0]} took {slowest[1] * 1000:.0f} ms"
    assert peak_rss_mb(relay.web.pid) < RSS_LIMIT_MB


def test_slow_and_idle_connections_are_closed_at_the_deadline(relay: Relay) -> None:
    """A head trickling in one byte per 0.25 s (never idle for long), a connection that sends nothing, and
    the rest of a body that trickles in after its request was answered are each closed HEAD_DEADLINE_S
    after they began, while a head sent in two pieces within the deadline is served."""
    stop = threading.Event()
    opened = time.monotonic()
    slowloris = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    idle = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    answered = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    split = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    with slowloris, idle, answered, split:
        slowloris.sendall(CALLBACK_HEAD)
        answered.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\nContent-Length: 100000\r\n\r\n")
        assert answered.recv(65536).startswith(b"HTTP/1.1 200 "), "answered before its body arrived"
        answered_at = time.monotonic()

        def drip() -> None:
            while not stop.wait(0.25):
                for sock, byte in ((slowloris, b"X"), (answered, b" ")):
                    with suppress(OSError):  # the server closed it: what closed_by_server waits for
                        sock.send(byte)

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        try:
            split.sendall(b"GET /healthz HTTP/1.1\r\nHost: re")
            stop.wait(HEAD_DEADLINE_S / 2)
            split.sendall(b"lay\r\n\r\n")
            assert split.recv(65536).startswith(b"HTTP/1.1 200 "), "a head in two pieces within the deadline"
            within = HEAD_DEADLINE_S + 1.5
            closed = {
                "slowloris": (closed_by_server(slowloris, within), opened),
                "idle": (closed_by_server(idle, within), opened),
                "rest of an answered body": (closed_by_server(answered, within), answered_at),
            }
        finally:
            stop.set()
            dripper.join(timeout=5)
    after = {name: None if at is None else round(at - began, 2) for name, (at, began) in closed.items()}
    print(f"closed after (s): {after}")
    for name, seconds in after.items():
        assert seconds is not None, f"{name}: still open {within}s after it began"
        assert HEAD_DEADLINE_S * 0.9 <= seconds <= HEAD_DEADLINE_S + 1, f"{name}: closed after {seconds}s"
