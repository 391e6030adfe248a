"""The console's gate: a page needs a valid session cookie, and a POST the session's CSRF token besides."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.web.console.rendering import PATH, render
from service.web.console.session import COOKIE, csrf_ok, csrf_token, signing_key, valid_session
from service.web.deps import WebDeps

SIGN_IN = PATH + "/sign-in"
CSRF_REFUSED = "Form expired or forged (CSRF check failed)"


@dataclass(frozen=True, slots=True)
class Visit:
    """A signed-in request: what its handler needs beside the request."""

    deps: WebDeps
    key: bytes
    csrf: str

    def page(self, request: Request, template: str, *, status: int = 200, **context: object) -> Response:
        return render(request, template, dict(context), key=self.key, csrf=self.csrf, status=status)


ConsoleHandler = Callable[[Request, Visit], Awaitable[Response]]


def deps_of(request: Request) -> WebDeps:
    deps: WebDeps = request.app.state.deps
    return deps


def console_key(deps: WebDeps) -> bytes | None:
    """None when no RELAY_ADMIN_TOKEN is set: nobody can sign in."""
    token = deps.settings.admin_token
    return None if token is None else signing_key(token.encoded())


def signed_in(handler: ConsoleHandler) -> Callable[[Request], Awaitable[Response]]:
    """Without a valid session: to the sign-in page (an htmx request is told to go there). A POST without the
    session's CSRF token: 403."""

    @wraps(handler)
    async def guarded(request: Request) -> Response:
        deps = deps_of(request)
        key = console_key(deps)
        session = None if key is None else valid_session(key, request.cookies.get(COOKIE), time.time())
        if key is None or session is None:
            if request.headers.get("hx-request") == "true":
                return Response(status_code=401, headers={"hx-redirect": SIGN_IN})
            return RedirectResponse(SIGN_IN, status_code=303)
        csrf = csrf_token(key, session)
        if request.method == "POST":
            form = await request.form()
            offered = form.get("csrf")
            if not csrf_ok(key, session, offered if isinstance(offered, str) else None):
                return render(request, "refused.html", {"reason": CSRF_REFUSED}, key=key, csrf=csrf, status=403)
        return await handler(request, Visit(deps, key, csrf))

    return guarded
