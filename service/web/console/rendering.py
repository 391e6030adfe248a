"""Rendering console pages: the templates (autoescaped), and what every page gets (its CSRF token, the flash)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from service.web.console.session import FLASH_COOKIE, sign, unsign
from service.web.console.static_files import HTMX_FILE

HERE = Path(__file__).parent
PATH = "/console"
#: Characters of a flash message kept.
FLASH_MAX = 600

#: autoescape on for every template: a value is text whatever it holds (`<script>` shows as `<script>`).
ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)
ENVIRONMENT.globals["htmx_file"] = HTMX_FILE
TEMPLATES = Jinja2Templates(env=ENVIRONMENT)


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    key: bytes | None,
    csrf: str = "",
    status: int = 200,
) -> Response:
    """The page, with the flash message left by the previous action (then forgotten)."""
    flash = _flash(request, key)
    response = TEMPLATES.TemplateResponse(
        request, template, {"csrf": csrf, "flash": flash, "signed_in": bool(csrf), **context}, status_code=status
    )
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path=PATH)
    return response


def fragment(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A part of a page, for htmx to swap in: no layout, no flash."""
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)


def _flash(request: Request, key: bytes | None) -> dict[str, str] | None:
    signed = request.cookies.get(FLASH_COOKIE)
    value = None if key is None or not signed else unsign(key, "flash", signed)
    if value is None:
        return None
    kind, _, text = value.partition(":")
    return {"kind": kind, "text": text}


def redirect_with_flash(request: Request, to: str, text: str, *, key: bytes, error: bool = False) -> Response:
    """303 to `to`, which shows `text` once (a cookie, signed so that only the console sets what it says)."""
    response = RedirectResponse(to, status_code=303)
    if len(text) > FLASH_MAX:  # a cookie holds about 4 kB
        text = text[: FLASH_MAX - 1] + "…"
    response.set_cookie(
        FLASH_COOKIE,
        sign(key, "flash", f"{'error' if error else 'ok'}:{text}"),
        max_age=60,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
