"""Fixtures of the fault suite: the in-process app over a real Valkey, shared with `tests/service`."""

from __future__ import annotations

# Re-exported so that pytest finds them for the tests in this folder: `client` (the app over
# httpx.ASGITransport), `redis` (a client of the flushed test database) and `admin` (the operator's headers).
from tests.service.conftest import admin, client, redis

__all__ = ["admin", "client", "redis"]
