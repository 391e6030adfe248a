"""Signing in with RELAY_ADMIN_TOKEN, and out.

A wrong token is refused with nothing more than "Sign-in refused." and slowed down (`throttle`). The sign-in
form carries a CSRF token too, signed with the time it was made (there is no session yet to derive one from).
"""

from __future__ import annotations

import hmac
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.web.console.guard import CSRF_REFUSED, SIGN_IN, Visit, console_key, deps_of, signed_in
from service.web.console.rendering import PATH, render
from service.web.console.session import COOKIE, SESSION_TTL_S, new_session, sign, unsign

#: How long a sign-in form stays good for.
SIGN_IN_FORM_TTL_S = 3600


def _form_token(key: bytes | None) -> str:
    return "" if key is None else sign(key, "sign-in", str(int(time.time())))


def _form_token_ok(key: bytes, offered: object) -> bool:
    made = unsign(key, "sign-in", offered) if isinstance(offered, str) else None
    return made is not None and made.isdigit() and time.time() - int(made) < SIGN_IN_FORM_TTL_S


async def sign_in_page(request: Request) -> Response:
    key = console_key(deps_of(request))
    return render(request, "sign_in.html", {"form_token": _form_token(key), "refused": False}, key=key)


async def sign_in(request: Request) -> Response:
    deps = deps_of(request)
    key = console_key(deps)
    form = await request.form()
    if key is not None and not _form_token_ok(key, form.get("csrf")):
        return render(request, "refused.html", {"reason": CSRF_REFUSED}, key=key, status=403)
    client = request.client.host if request.client is not None else "unknown"
    await deps.sign_in_throttle.wait(client)
    offered = form.get("token")
    token = deps.settings.admin_token
    if key is None or token is None or not isinstance(offered, str) or not _token_ok(offered, token.encoded()):
        deps.sign_in_throttle.failed(client)
        deps.refusals.refused(client=client, method="POST", path=request.url.path, reason="console_sign_in")
        context = {"form_token": _form_token(key), "refused": True}
        return render(request, "sign_in.html", context, key=key, status=401)
    deps.sign_in_throttle.succeeded(client)
    response = RedirectResponse(PATH, status_code=303)
    response.set_cookie(
        COOKIE,
        new_session(key, time.time()),
        max_age=SESSION_TTL_S,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _token_ok(offered: str, token: bytes) -> bool:
    return hmac.compare_digest(offered.strip().encode(), token)


@signed_in
async def sign_out(request: Request, visit: Visit) -> Response:
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")
    return response
