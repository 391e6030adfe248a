"""Plain values for HTTP exchanges, so provider logic can be written and tested without any I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    # Not in repr: the URL may carry an API key (SMSOnline), headers a token, the body a password.
    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes | None = field(default=None, repr=False)
    #: `url` with secret query values masked: the only form of the URL that may be logged.
    log_url: str = ""

    def __post_init__(self) -> None:
        if not self.log_url:
            object.__setattr__(self, "log_url", self.url)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    #: Header names in lower case.
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """What arrived at `POST /webhooks/{account}`; header names in lower case."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class CallbackHint:
    """An accepted callback: only ever a hint to look now, never invoice state."""

    #: The invoices the callback names, in the relay's `invoice_id` form: read just those. None named: read the
    #: whole account.
    invoice_ids: tuple[str, ...] = ()
    #: The provider's own id for this notification, when it sends one (for replay detection).
    delivery_id: str | None = None
