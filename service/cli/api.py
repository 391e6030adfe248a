"""The operator API as the command line sees it: one client, its two failures, and the event log read forward."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

#: Rows per `GET /events` call while reading the log (the API's maximum).
EVENTS_PAGE = 1000


class ApiError(Exception):
    """The API answered with an error status; `error` and `detail` are its own words."""

    def __init__(self, status: int, error: str, detail: str | None) -> None:
        self.status = status
        self.error = error
        self.detail = detail
        super().__init__(f"{error}: {detail}" if detail else error)


class Unreachable(Exception):
    """No answer from the API: refused, timed out, or not an HTTP server."""


def default_url(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("RELAY_URL") or f"http://127.0.0.1:{environ.get('PORT') or '8000'}"


def shown_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def segment(value: str) -> str:
    """One path segment, whatever the operator typed ("../sync" stays inside its segment)."""
    return quote(value, safe="")


class Api:
    """The operator API over HTTP; `transport` replaces the network (an in-process app, in tests)."""

    def __init__(
        self, url: str, token: str | None, *, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"user-agent": "relay-cli/0.1.0", "accept": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.http = httpx.Client(headers=headers, timeout=timeout, follow_redirects=False, transport=transport)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        try:
            response = self.http.request(
                method,
                self.url + path,
                params={k: v for k, v in (params or {}).items() if v is not None},
                json=body,
            )
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            reason = str(exc) or type(exc).__name__
            raise Unreachable(f"cannot reach the relay at {shown_url(self.url)}: {reason}") from exc
        if response.status_code >= 400:
            raise _api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(response.status_code, "bad_answer", "the answer is not JSON") from exc


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        detail = body.get("detail")
        return ApiError(response.status_code, body["error"], detail if isinstance(detail, str) else None)
    return ApiError(response.status_code, f"http_{response.status_code}", response.reason_phrase or None)


class EventReader:
    """Reads the event log forward from the start, page by page.

    At the end of the log the API answers `next: null`, which gives no cursor for "after the last event"; so the
    reader keeps the last cursor it had, reads that page again on the next poll and skips the ids it has seen.
    """

    def __init__(self, api: Api, *, account: str | None, event_type: str | None) -> None:
        self.api = api
        self.filters = {"account": account, "type": event_type}
        self.after: str | None = None
        self.seen: set[str] = set()

    def poll(self) -> Iterator[dict[str, Any]]:
        """Every event logged since the previous poll, oldest first."""
        while True:
            page = self.api.call("GET", "/events", params={**self.filters, "limit": EVENTS_PAGE, "after": self.after})
            for event in page["events"]:
                if event["id"] not in self.seen:
                    yield event
            if page["next"] is None:
                self.seen = {event["id"] for event in page["events"]}
                return
            self.after = page["next"]
            self.seen = set()
