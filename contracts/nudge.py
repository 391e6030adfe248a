"""Nudges: callbacks from the operator's own systems for providers that send none (SMSOnline, ISP CRM)."""

from __future__ import annotations

import hmac
from datetime import datetime

from contracts.accounts import Account, Secret
from contracts.errors import CallbackMalformed, CallbackUnauthorized
from contracts.jsonio import loads_exact
from contracts.wire import CallbackHint, CallbackRequest

#: Invoices one nudge may name; more are refused (a nudge without a body reads the whole account).
MAX_NUDGE_IDS = 100
#: The longest invoice id a nudge may name: longer than any provider's.
MAX_NUDGE_ID_LENGTH = 128


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
    return CallbackHint(invoice_ids=nudged_invoices(request.body))


def nudged_invoices(body: bytes) -> tuple[str, ...]:
    """The invoices a nudge names: an empty body names none (read the whole account); otherwise the body must
    be `{"invoice_ids": [...]}` with 1 to MAX_NUDGE_IDS ids, each printable text of at most
    MAX_NUDGE_ID_LENGTH characters. Checked only once the token is: the body is the operator's own."""
    if not body.strip():
        return ()
    try:
        document = loads_exact(body)
    except ValueError as exc:
        raise CallbackMalformed('a nudge body must be JSON: {"invoice_ids": ["..."]}') from exc
    if not isinstance(document, dict) or set(document) != {"invoice_ids"}:
        raise CallbackMalformed('a nudge body must be {"invoice_ids": ["..."]} and nothing else')
    ids = document["invoice_ids"]
    if not isinstance(ids, list) or not 0 < len(ids) <= MAX_NUDGE_IDS:
        raise CallbackMalformed(f"invoice_ids must be a list of 1 to {MAX_NUDGE_IDS} invoice ids")
    for invoice_id in ids:
        if not (
            isinstance(invoice_id, str)
            and 0 < len(invoice_id) <= MAX_NUDGE_ID_LENGTH
            and invoice_id.isprintable()
            and invoice_id == invoice_id.strip()
        ):
            raise CallbackMalformed(
                f"each of invoice_ids must be printable text of 1 to {MAX_NUDGE_ID_LENGTH} characters, "
                "without surrounding spaces"
            )
    return tuple(dict.fromkeys(ids))


def verify_account_nudge(account: Account, request: CallbackRequest, now: datetime) -> CallbackHint:
    """`Provider.verify_callback` for providers that never call back: only the operator's own systems nudge,
    with the account's `callback_token`. `now` is unused: a nudge carries no timestamp to check."""
    return verify_nudge(request, account.callback_token)
