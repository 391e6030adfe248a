"""Slowing down repeated wrong sign-in tokens: each sign-in waits longer the more wrong tokens were offered
recently, from its client address and from everywhere.

Kept in the web process's memory: with several web processes, each slows its own share of the attempts (a
token long enough, as the README asks, is out of reach of guessing anyway; the slow-down keeps a noisy
client from getting far and keeps the log quiet). A right token clears its client's count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

#: Failures older than this are forgotten.
WINDOW_S = 300.0
#: Seconds added per recent failure of the client; every GLOBAL_DIVISOR failures anywhere count as one more.
STEP_S = 0.25
GLOBAL_DIVISOR = 10
#: The longest wait.
CAP_S = 2.5


class SignInThrottle:
    def __init__(
        self,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 4096,
    ) -> None:
        self._sleep = sleep
        self._clock = clock
        self._max_clients = max_clients
        #: client address -> times of its recent failures
        self._clients: dict[str, list[float]] = {}
        self._everywhere: list[float] = []

    def delay_s(self, client: str) -> float:
        """How long the next sign-in from `client` waits before its token is checked."""
        now = self._clock()
        own = len(self._recent(self._clients.get(client, []), now))
        everywhere = len(self._recent(self._everywhere, now))
        return min(CAP_S, STEP_S * (own + everywhere // GLOBAL_DIVISOR))

    async def wait(self, client: str) -> None:
        delay = self.delay_s(client)
        if delay > 0:
            await self._sleep(delay)

    def failed(self, client: str) -> None:
        now = self._clock()
        if client not in self._clients and len(self._clients) >= self._max_clients:
            self._forget_quiet(now)
        self._clients[client] = [*self._recent(self._clients.get(client, []), now), now]
        self._everywhere = [*self._recent(self._everywhere, now), now][-1000:]

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)

    @staticmethod
    def _recent(times: list[float], now: float) -> list[float]:
        return [at for at in times if now - at < WINDOW_S]

    def _forget_quiet(self, now: float) -> None:
        for client in [c for c, times in self._clients.items() if not self._recent(times, now)]:
            del self._clients[client]
        if len(self._clients) >= self._max_clients:
            self._clients.clear()  # more clients failing at once than remembered: start over rather than grow
