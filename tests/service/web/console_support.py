"""What the console tests share: an app client with a recorded sign-in slow-down, signing in, reading forms."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx

from service.config import Settings
from service.web.app import create_app
from service.web.console.throttle import SignInThrottle
from service.web.deps import WebDeps
from tests.service.conftest import ADMIN

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


class RecordedSleeps:
    """The throttle's sleep, recorded instead of slept: the delays asked for, at no cost to the suite."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@asynccontextmanager
async def console_client(
    settings: Settings, sleeps: RecordedSleeps | None = None, base_url: str = "http://relay.test"
) -> AsyncIterator[tuple[httpx.AsyncClient, WebDeps]]:
    app = create_app(settings)
    deps = WebDeps.build(settings)
    deps = replace(deps, sign_in_throttle=SignInThrottle(sleep=sleeps or RecordedSleeps()))
    app.state.deps = deps
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
    try:
        yield client, deps
    finally:
        await client.aclose()
        await deps.close()


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, token: str = ADMIN) -> httpx.Response:
    form = await client.get("/console/sign-in")
    return await client.post("/console/sign-in", data={"csrf": csrf_of(form.text), "token": token})


async def csrf(client: httpx.AsyncClient, path: str = "/console") -> str:
    """The CSRF token of the signed-in session, as its pages carry it."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
