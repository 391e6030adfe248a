"""Login sessions for providers that need one (ISP CRM with username and password), kept per process."""

from __future__ import annotations

from contracts.accounts import Account
from contracts.provider import Provider
from workers.sync.provider_http import Sender


class Sessions:
    """Session tokens by account name. A 401 on the list endpoint drops the token: the next use logs in.
    Logins go out through the same `Sender` as every other provider request."""

    def __init__(self, send: Sender) -> None:
        self._send = send
        self._tokens: dict[str, str] = {}

    async def token(self, account: Account, provider: Provider) -> str | None:
        if provider.login_request is None or provider.parse_login is None or not account.logs_in:
            return None
        cached = self._tokens.get(account.name)
        if cached is not None:
            return cached
        response = await self._send(provider.login_request(account))
        token = provider.parse_login(response)
        self._tokens[account.name] = token
        return token

    def drop(self, account: Account) -> bool:
        """Forget the account's token; True when there was one to forget (so logging in again can help)."""
        return self._tokens.pop(account.name, None) is not None
