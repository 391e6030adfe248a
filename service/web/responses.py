"""Response helpers: orjson bodies and one error shape, `{"error": <code>, "detail": <message>}`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, code: str, detail: str | None = None, headers: dict[str, str] | None = None) -> JSON:
    body: dict[str, Any] = {"error": code}
    if detail:
        body["detail"] = detail
    return JSON(body, status_code=status, headers=headers)


def raw_json(body: bytes, status: int = 200) -> Response:
    """A body that is already JSON (events as logged)."""
    return Response(body, status_code=status, media_type="application/json")
