"""A real subscriber: an HTTP server on a loopback port, in a thread, scripted per path.

Each path answers from its script (status, headers, delay) in order, then with its default; every request
is recorded with its headers and raw body, so tests can verify signatures with a reference library.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.procs import free_port


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    text: str = "ok"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Subscriber:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self._scripts: dict[str, list[Answer]] = {}
        self._defaults: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer, default: Answer | None = None) -> None:
        with self._lock:
            self._scripts[path] = list(answers)
            if default is not None:
                self._defaults[path] = default

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.received.append(Received(request.path, dict(request.headers), body, time.monotonic()))
            script = self._scripts.get(request.path, [])
            answer = script.pop(0) if script else self._defaults.get(request.path, Answer())
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return web.Response(status=answer.status, headers=answer.headers, text=answer.text)

    def start(self) -> Subscriber:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers still sleeping through a scripted delay: end them, so nothing is left pending.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@contextmanager
def subscriber_server() -> Iterator[Subscriber]:
    server = Subscriber().start()
    try:
        yield server
    finally:
        server.stop()
