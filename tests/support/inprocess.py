"""The relay's web app inside the test process, for synchronous clients such as the `relay` command line.

`AppThread` runs the app on an event loop in a thread of its own and answers requests in memory (`transport()`);
`ServedApp` serves it with uvicorn on a loopback port from a thread: a real socket, which a test can close and
open again. Both set up what the app's lifespan would (its Redis connections) but leave the process's logging
alone, as `app_client` in tests/service/conftest.py does.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import uvicorn
from starlette.applications import Starlette

from service.config import Settings
from service.web.app import create_app
from service.web.deps import WebDeps
from tests.support.procs import free_port
from tests.support.waiting import wait_until

#: Where `AppThread` answers; a request for any other origin finds nothing there, as on a network.
APP_ORIGIN = "http://relay.test"


class LoopTransport(httpx.BaseTransport):
    """A synchronous transport that hands each request to an ASGI app running on an event loop in another thread."""

    def __init__(self, app: Starlette, loop: asyncio.AbstractEventLoop) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if f"{request.url.scheme}://{request.url.netloc.decode()}" != APP_ORIGIN:
            raise httpx.ConnectError(f"nothing listens at {request.url.host}", request=request)
        return asyncio.run_coroutine_threadsafe(self._answer(request), self._loop).result(timeout=30)

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        return httpx.Response(response.status_code, headers=response.headers, content=await response.aread())


class AppThread:
    """The web app on an event loop in a thread of its own; `transport()` reaches it at `APP_ORIGIN`."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.app.state.deps = WebDeps.build(settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="relay-app", daemon=True)
        self._thread.start()

    def transport(self) -> LoopTransport:
        return LoopTransport(self.app, self._loop)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.app.state.deps.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class ServedApp:
    """The web app behind uvicorn on a loopback port, served from a thread; `stop()` and `start()` restart it
    on the same port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ServedApp:
        app = create_app(self.settings)
        # log_config=None: uvicorn leaves the test process's logging configuration as it is.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, lifespan="off", access_log=False, log_config=None
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=asyncio.run, args=(self._serve(app, server),), name="relay-web", daemon=True)
        thread.start()

        def listening() -> bool:
            assert thread.is_alive(), f"uvicorn did not start on port {self.port}"
            return server.started

        wait_until(listening, timeout=10, what=f"uvicorn on port {self.port}")
        self._server, self._thread = server, thread
        return self

    async def _serve(self, app: Starlette, server: uvicorn.Server) -> None:
        app.state.deps = WebDeps.build(self.settings)
        try:
            await server.serve()
        finally:
            await app.state.deps.close()

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "uvicorn did not stop"
        self._server = self._thread = None
