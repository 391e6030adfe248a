"""The console's gate: sign-in with the admin token, the session cookie, CSRF on every POST, the slow-down."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from starlette.routing import Mount, Route

from contracts.accounts import Secret
from service.web.console import session
from service.web.console.routes import console
from service.web.console.throttle import CAP_S, STEP_S, SignInThrottle
from tests.service.conftest import ADMIN, make_settings
from tests.service.web.console_support import RecordedSleeps, console_client, csrf, csrf_of, sign_in

KEY = session.signing_key(ADMIN.encode())


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with console_client(make_settings(redis_url)) as (http, _):
        yield http


async def test_a_visitor_without_a_session_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/console", "/console/events", "/console/subscriptions", "/console/events/evt_x"):
        response = await client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/console/sign-in"), path
    form = await client.get("/console/sign-in")
    assert form.status_code == 200
    assert 'id="sign-in"' in form.text
    assert 'type="password" name="token"' in form.text


async def test_a_wrong_token_is_refused_with_nothing_more(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, "not-the-token")
    assert response.status_code == 401
    assert '<p id="sign-in-error" class="flash error" role="alert">Sign-in refused.</p>' in response.text
    assert session.COOKIE not in response.headers.get("set-cookie", "")
    assert (await client.get("/console")).status_code == 303


async def test_the_right_token_signs_in_with_a_strict_session_cookie(client: httpx.AsyncClient) -> None:
    response = await sign_in(client)
    assert (response.status_code, response.headers["location"]) == (303, "/console")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{session.COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console", f"max-age={session.SESSION_TTL_S}"} <= flags
    assert "secure" not in flags  # plain http here; over https the cookie is Secure (below)
    page = await client.get("/console")
    assert page.status_code == 200
    assert 'id="sign-out"' in page.text


async def test_over_https_the_cookie_is_secure(redis_url: str) -> None:
    async with console_client(make_settings(redis_url), base_url="https://relay.test") as (http, _):
        cookie = (await sign_in(http)).headers["set-cookie"].lower()
    assert "; secure" in cookie


async def test_sign_out_ends_the_session(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    response = await client.post("/console/sign-out", data={"csrf": await csrf(client)})
    assert (response.status_code, response.headers["location"]) == (303, "/console/sign-in")
    assert (await client.get("/console")).status_code == 303


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(session.new_session(KEY, time.time() - session.SESSION_TTL_S - 1), id="expired"),
        pytest.param(session.new_session(KEY, time.time()).replace(".", ".x", 1), id="tampered"),
        pytest.param(session.sign(KEY, "session", f"{int(time.time()) + 10**6}.forged")[:-2] + "AA", id="bad-mac"),
        pytest.param(session.new_session(session.signing_key(b"an-older-token"), time.time()), id="other-token"),
        pytest.param(session.sign(KEY, "flash", f"{int(time.time()) + 3600}.x"), id="other-purpose"),
    ],
)
async def test_a_session_cookie_that_is_not_good_is_refused(client: httpx.AsyncClient, cookie: str) -> None:
    client.cookies.set(session.COOKIE, cookie, path="/console")
    assert (await client.get("/console")).status_code == 303


async def test_a_session_made_now_is_good_until_it_expires() -> None:
    cookie = session.new_session(KEY, 1_000_000)
    assert session.valid_session(KEY, cookie, 1_000_000 + session.SESSION_TTL_S - 1) is not None
    assert session.valid_session(KEY, cookie, 1_000_000 + session.SESSION_TTL_S) is None


async def test_a_new_admin_token_signs_everyone_out(redis_url: str) -> None:
    async with console_client(make_settings(redis_url)) as (old, _):
        await sign_in(old)
        cookie = old.cookies[session.COOKIE]
    rotated = replace(make_settings(redis_url), admin_token=Secret("a-new-admin-token-for-tests"))
    async with console_client(rotated) as (new, _):
        new.cookies.set(session.COOKIE, cookie, path="/console")
        assert (await new.get("/console")).status_code == 303


def console_posts() -> list[str]:
    """Every POST route of the console, its path parameters filled in."""
    paths: list[str] = []
    for route in console():
        inner = route.routes if isinstance(route, Mount) else [route]
        prefix = "/console" if isinstance(route, Mount) else ""
        for sub in inner:
            if isinstance(sub, Route) and "POST" in (sub.methods or ()):
                paths.append(prefix + sub.path.replace("{account}", "shop").replace("{subscription_id}", "SUB"))
    return paths


def test_the_console_has_the_post_routes_the_contract_names() -> None:
    assert len(console_posts()) == 11


@pytest.mark.parametrize("path", console_posts())
@pytest.mark.parametrize("offered", [None, "", "forged"])
async def test_every_post_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, offered: str | None
) -> None:
    await sign_in(client)
    created = await client.post("/subscriptions", json={"url": "http://93.184.216.34/hooks"}, headers=admin)
    subscription_id = created.json()["id"]
    data = {"token": ADMIN, "url": "http://93.184.216.34/other", "since": "2020-01-01T00:00:00Z"}
    if offered is not None:
        data["csrf"] = offered
    response = await client.post(path.replace("SUB", subscription_id), data=data)
    assert response.status_code == 403, path
    assert "Form expired or forged (CSRF check failed)" in response.text
    # Nothing happened: the subscription is as created, and the session goes on.
    assert (await client.get(f"/subscriptions/{subscription_id}", headers=admin)).json() == {
        k: v for k, v in created.json().items() if k != "secret"
    }
    assert (await client.get("/console")).status_code == 200


async def test_the_csrf_token_is_the_sessions_own(redis_url: str) -> None:
    async with (
        console_client(make_settings(redis_url)) as (first, _),
        console_client(make_settings(redis_url)) as (
            second,
            _,
        ),
    ):
        await sign_in(first)
        await sign_in(second)
        response = await first.post("/console/accounts/shop/sync", data={"csrf": await csrf(second)})
        assert response.status_code == 403
        accepted = await first.post("/console/accounts/shop/sync", data={"csrf": await csrf(first)})
        assert accepted.status_code == 303


async def test_repeated_wrong_tokens_wait_longer_each_time(redis_url: str) -> None:
    sleeps = RecordedSleeps()
    async with console_client(make_settings(redis_url), sleeps) as (http, _):
        for _ in range(4):
            assert (await sign_in(http, "wrong")).status_code == 401
        assert sleeps.delays == [STEP_S, 2 * STEP_S, 3 * STEP_S]
        assert (await sign_in(http)).status_code == 303  # the right token still signs in, after its wait
        assert sleeps.delays[-1] == 4 * STEP_S
        await sign_in(http)
        assert len(sleeps.delays) == 4  # and clears the client's count


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_slow_down_is_capped_forgets_old_failures_and_counts_every_client() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(clock=clock)
    for _ in range(50):
        throttle.failed("10.0.0.1")
    assert throttle.delay_s("10.0.0.1") == CAP_S
    # 50 failures elsewhere slow a new client too, less than the one that made them.
    assert 0 < throttle.delay_s("10.0.0.2") < CAP_S
    clock.now += 301
    assert throttle.delay_s("10.0.0.1") == 0
    assert throttle.delay_s("10.0.0.2") == 0


def test_the_slow_down_remembers_a_bounded_number_of_clients() -> None:
    clock = FakeClock()
    throttle = SignInThrottle(clock=clock, max_clients=3)
    for n in range(10):
        throttle.failed(f"10.0.0.{n}")
    assert len(throttle._clients) <= 3


async def test_with_no_admin_token_nobody_signs_in(redis_url: str) -> None:
    async with console_client(replace(make_settings(redis_url), admin_token=None)) as (http, _):
        form = await http.get("/console/sign-in")
        response = await http.post("/console/sign-in", data={"csrf": csrf_of(form.text), "token": ""})
        assert response.status_code == 401
        assert (await http.get("/console")).status_code == 303
