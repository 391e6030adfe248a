"""Suite-wide fixtures: one real Redis/Valkey for the whole run (REDIS_URL, or the bundled Valkey)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio

from tests.support.procs import Valkey


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """The server for the run (for each of pytest-xdist's workers). With REDIS_URL set, the suite uses, and
    flushes, that database, or for xdist's worker N the database N numbers after it."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield with_database_offset(url, xdist_worker_number())
        return
    with Valkey() as server:
        yield server.url


def xdist_worker_number() -> int:
    """0 for a run without xdist, N for its worker `gwN`."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))


def with_database_offset(url: str, offset: int) -> str:
    parts = urlsplit(url)
    database = int(parts.path.lstrip("/") or 0) + offset
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture
async def redis_url(redis_server_url: str) -> str:
    """A flushed database for one test."""
    client = redis.asyncio.Redis.from_url(redis_server_url)
    await client.flushdb()
    await client.aclose()
    return redis_server_url
