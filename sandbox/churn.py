"""Background change for live demos: now and then, a few invoices in every account move on."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

from sandbox.errors import Problem
from sandbox.state import Account, Invoice, Sandbox

log = logging.getLogger("sandbox.churn")

ACTIONS = (
    ("create", 30),
    ("pay", 30),
    ("partial", 8),
    ("overpay", 4),
    ("cancel", 10),
    ("expire", 12),
    ("refund", 6),
)
TRIES = 25  # random picks looking for an invoice the action fits, before creating one instead


@dataclass(frozen=True, slots=True)
class Change:
    account: str
    invoice_id: str
    action: str
    status: object

    def as_json(self) -> dict[str, object]:
        return {"account": self.account, "invoice_id": self.invoice_id, "action": self.action, "status": self.status}


def _target(account: Account, action: str, rng: random.Random) -> Invoice | None:
    provider = account.provider
    wanted = provider.paid_statuses if action == "refund" else provider.open_statuses
    for _ in range(TRIES):
        invoice = account.book.pick(rng)
        if invoice is None:
            return None
        if invoice.status in wanted:
            return invoice
    return None


def churn_once(sb: Sandbox, rng: random.Random, most: int = 3) -> list[Change]:
    """Change 1..`most` invoices in every account, announcing them as the provider would."""
    changes: list[Change] = []
    for account in list(sb.accounts.values()):
        provider = account.provider
        options = [(a, w) for a, w in ACTIONS if a == "create" or a in provider.transitions]
        for _ in range(rng.randint(1, most)):
            action = rng.choices([a for a, _ in options], [w for _, w in options])[0]
            invoice = None if action == "create" else _target(account, action, rng)
            try:
                if invoice is None:
                    action, invoice = "create", provider.create(sb, account)
                else:
                    provider.act(sb, account, invoice, action, {})
            except Problem as exc:  # a raw override made the invoice unpayable: leave it be
                log.debug("churn skipped %s on %s: %s", action, account.name, exc.message)
                continue
            changes.append(Change(account.name, invoice.key, action, invoice.status))
    return changes


async def run_churn(sb: Sandbox, interval: float) -> None:
    rng = random.Random(sb.churn_seed)
    while True:
        await asyncio.sleep(interval)
        try:
            churn_once(sb, rng)
        except Exception:
            log.exception("churn round failed")
