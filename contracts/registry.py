"""The four providers by name."""

from __future__ import annotations

from collections.abc import Mapping

from contracts import cryptocloud, ispcrm, simplepay, smsonline
from contracts.provider import Provider

PROVIDERS: Mapping[str, Provider] = {
    provider.name: provider
    for provider in (cryptocloud.PROVIDER, simplepay.PROVIDER, smsonline.PROVIDER, ispcrm.PROVIDER)
}


def provider_for(name: str) -> Provider:
    """The provider module's `PROVIDER`; `KeyError` for a name config validation would have refused."""
    return PROVIDERS[name]
