"""Classification of provider answers, shared by every provider module: status codes, JSON bodies, the
`{<flag>, <items>}` envelope, and provider messages safe to show."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.errors import (
    ProviderAuthFailed,
    ProviderError,
    ProviderNotFound,
    ProviderRejected,
    ProviderTransient,
)
from contracts.jsonio import loads_exact
from contracts.records import loads_records
from contracts.wire import HttpResponse

_RETRYABLE = frozenset({408, 425, 429})
#: Longer provider texts are more likely a dump of the request than a message meant for people.
_MESSAGE_LIMIT = 200
#: A long unbroken run of token characters: an API key, a JWT or a session id echoed back.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9+/=_.-]{24,}")


def raise_for_status(response: HttpResponse, provider: str) -> None:
    """Raise the typed error for a non-2xx answer; return quietly for a 2xx."""
    status = response.status
    if 200 <= status < 300:
        return
    if status in (401, 403):
        raise ProviderAuthFailed(f"{provider} answered {status}: credentials refused")
    if status == 404:
        raise ProviderNotFound(f"{provider} answered 404")
    if status in _RETRYABLE or status >= 500:
        raise ProviderTransient(f"{provider} answered {status}", retry_after=response.headers.get("retry-after"))
    raise ProviderRejected(f"{provider} answered {status}")


def json_body(response: HttpResponse, provider: str) -> Any:
    """The body as JSON; a body that does not parse is transient (a truncated answer can heal)."""
    try:
        return loads_exact(response.body)
    except ValueError as exc:
        raise ProviderTransient(f"{provider} sent a body that is not JSON") from exc


def records_body(response: HttpResponse, provider: str, id_field: str) -> Any:
    """A list answer as JSON, its records left as `RawRecord` with their `id_field` read (see
    `loads_records`); invalid JSON is transient, as in `json_body`."""
    try:
        return loads_records(response.body, id_field)
    except ValueError as exc:
        raise ProviderTransient(f"{provider} sent a body that is not JSON") from exc


def safe_message(value: object, secrets: Sequence[str]) -> str | None:
    """A provider's own error text when an operator may see it (`last_error`): short, printable, and with
    nothing in it that looks like a credential, since providers echo requests and keys travel in queries."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > _MESSAGE_LIMIT or not text.isprintable() or _TOKEN_LIKE.search(text):
        return None
    if any(secret in text for secret in secrets if secret):
        return None
    return text


@dataclass(frozen=True, slots=True)
class FlaggedEnvelope:
    """List answers shaped `{<flag>: true, <items>: [...]}`, refusals `{<flag>: false, "message": ...}`."""

    provider: str
    flag: str
    items: str
    #: The records' id field, read for the whole page in one pass.
    id_field: str
    #: Where a refusal may carry its reason, most specific first.
    message_keys: tuple[str, ...] = ("message",)

    def records(self, response: HttpResponse, secrets: Sequence[str] = ()) -> list[object]:
        """The records of one answer (each a `RawRecord`), or the typed error for an unusable one. `secrets`
        are kept out of the error messages."""
        self._raise_for_status(response, secrets)
        document = records_body(response, self.provider, self.id_field)
        if not isinstance(document, Mapping) or not isinstance(document.get(self.flag), bool):
            raise ProviderTransient(f"{self.provider} sent a body that is not its {self.flag}/{self.items} envelope")
        if document[self.flag] is False:
            # A refusal with a success status: no retry will change it, but it says nothing about credentials.
            reason = self._message(document, secrets)
            raise ProviderRejected(f"{self.provider} refused the request" + (f": {reason}" if reason else ""))
        if self.items not in document:
            raise ProviderTransient(f"{self.provider} sent {self.flag}: true without {self.items!r}")
        items = document[self.items]
        if items is None:
            # How an empty history looks is undocumented: `[]` surely, `null` plausibly. Reading null as
            # empty costs nothing (a missing invoice emits no event), reading it as an error would fail the
            # account for good.
            return []
        if not isinstance(items, list):
            raise ProviderTransient(f"{self.provider} sent {self.items!r} that is not a list")
        return list(items)

    def _raise_for_status(self, response: HttpResponse, secrets: Sequence[str]) -> None:
        try:
            raise_for_status(response, self.provider)
        except ProviderError as error:
            reason = self._message(_parsed(response.body), secrets)
            if reason is None:
                raise
            raise _with_message(error, reason) from error

    def _message(self, document: object, secrets: Sequence[str]) -> str | None:
        if not isinstance(document, Mapping):
            return None
        for key in self.message_keys:
            found = safe_message(document.get(key), secrets)
            if found is not None:
                return found
        return None


def _with_message(error: ProviderError, message: str) -> ProviderError:
    """The same classification, with the provider's words added; `Retry-After` survives."""
    text = f"{error}: {message}"
    if isinstance(error, ProviderTransient):
        return ProviderTransient(text, retry_after=error.retry_after)
    return type(error)(text)


def _parsed(body: bytes) -> Any:
    # An error answer's body may be anything; only a JSON object can carry a message.
    try:
        return loads_exact(body)
    except ValueError:
        return None
