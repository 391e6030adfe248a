"""Suite-wide fixtures: one real Redis/Valkey for the whole run (REDIS_URL, or the bundled Valkey)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis.asyncio

from tests.support.procs import Valkey


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """The server for the run. With REDIS_URL set, the suite uses (and flushes) that database."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with Valkey() as server:
        yield server.url


@pytest.fixture
async def redis_url(redis_server_url: str) -> str:
    """A flushed database for one test."""
    client = redis.asyncio.Redis.from_url(redis_server_url)
    await client.flushdb()
    await client.aclose()
    return redis_server_url
