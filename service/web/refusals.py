"""Refused operator calls in the log: who knocked, and how often, without letting a flood fill the log."""

from __future__ import annotations

import time

import structlog

log = structlog.get_logger("relay.web")


class RefusalLog:
    """Logs a refused operator call (401) at warning with its method, path and client address (never the
    token offered): at most one line per client every `window_s` seconds, the next one counting the refusals
    left out meanwhile. Clients are forgotten once their window has passed, when many are remembered."""

    def __init__(self, *, window_s: float = 10.0, max_clients: int = 4096) -> None:
        self.window_s = window_s
        self.max_clients = max_clients
        #: client -> (when its last line was logged, refusals left out since)
        self._clients: dict[str, tuple[float, int]] = {}

    def refused(self, *, client: str, method: str, path: str, reason: str) -> None:
        now = time.monotonic()
        known = self._clients.get(client)
        if known is not None and now - known[0] < self.window_s:
            self._clients[client] = (known[0], known[1] + 1)
            return
        if known is None and len(self._clients) >= self.max_clients:
            self._forget_quiet(now)
        log.warning(
            "operator_call_refused",
            method=method,
            path=path,
            client=client,
            reason=reason,
            refused_since_last_line=0 if known is None else known[1],
        )
        self._clients[client] = (now, 0)

    def _forget_quiet(self, now: float) -> None:
        quiet = [client for client, (logged_at, _) in self._clients.items() if now - logged_at >= self.window_s]
        for client in quiet:
            del self._clients[client]
        if len(self._clients) >= self.max_clients:
            # A flood from more clients than remembered within one window: start over rather than grow.
            self._clients.clear()
