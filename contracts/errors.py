"""One small hierarchy of typed errors, grouped by what the caller should do.

Errors raised on the callback path carry the HTTP status to answer with (`http_status`). Errors about a
provider's answer say whether retrying can help (`ProviderTransient`) or not (`ProviderPermanent`).
"""

from __future__ import annotations

from datetime import datetime

from contracts.retry_after import parse_retry_after


class RelayError(Exception):
    """Base of every error raised by `contracts`."""

    http_status: int | None = None


class ConfigError(RelayError):
    """The configuration is invalid: every problem found, each on a line of its own that names the variable,
    or the account and the key."""

    def __init__(self, *problems: str) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class RecordError(RelayError):
    """One provider record cannot be translated. It is skipped and counted, never failing its page."""

    def __init__(self, message: str, *, field: str, record_id: str | None) -> None:
        self.field = field
        self.record_id = record_id
        where = f"record {record_id!r}" if record_id is not None else "record without an id"
        super().__init__(f"{where}: field {field!r}: {message}")


class CallbackError(RelayError):
    """A callback is refused; nothing is queued."""

    http_status = 400


class CallbackMalformed(CallbackError):
    http_status = 400


class CallbackUnauthorized(CallbackError):
    """Bad, missing or expired signature or token."""

    http_status = 401


class ProviderError(RelayError):
    """A provider's answer that is not a usable page."""


class ProviderTransient(ProviderError):
    """Retrying later can help: 429, 5xx, timeouts, a malformed or truncated body."""

    def __init__(self, message: str, *, retry_after: str | None = None) -> None:
        #: The provider's `Retry-After` header as sent, when it sent one.
        self.retry_after = retry_after
        super().__init__(message)

    def delay(self, now: datetime) -> float | None:
        """The wait the provider asked for, in seconds from `now`, or None."""
        return parse_retry_after(self.retry_after, now)


class ProviderPermanent(ProviderError):
    """Retrying the same request will not help."""


class ProviderAuthFailed(ProviderPermanent):
    """401/403: the credentials are wrong or revoked. The account is marked `auth_failed`."""


class ProviderNotFound(ProviderPermanent):
    """404 for the account itself (an unknown user or subscriber)."""


class ProviderRejected(ProviderPermanent):
    """Any other 4xx: the provider refuses the request as built."""
