"""Nudges: callbacks from the operator's own systems for providers that send none (SMSOnline, ISP CRM)."""

from __future__ import annotations

import hmac
from datetime import datetime

from contracts.accounts import Account, Secret
from contracts.errors import CallbackUnauthorized
from contracts.wire import CallbackHint, CallbackRequest


def verify_nudge(request: CallbackRequest, token: Secret | None) -> CallbackHint:
    """Accept `Authorization: Bearer <callback_token>` or `?token=<callback_token>`.

    An account without a `callback_token` accepts no nudges at all: an open endpoint would let anyone
    make the relay poll the provider.
    """
    if token is None:
        raise CallbackUnauthorized("this account has no callback_token: nudges are disabled")
    authorization = request.headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    offered = credential.strip() if scheme.lower() == "bearer" else request.query.get("token", "")
    if not offered or not hmac.compare_digest(offered.encode(), token.encoded()):
        raise CallbackUnauthorized("bad or missing callback token")
    return CallbackHint()


def verify_account_nudge(account: Account, request: CallbackRequest, now: datetime) -> CallbackHint:
    """`Provider.verify_callback` for providers that never call back: only the operator's own systems nudge,
    with the account's `callback_token`. `now` is unused: a nudge carries no timestamp to check."""
    return verify_nudge(request, account.callback_token)
