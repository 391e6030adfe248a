"""What the web process shares between requests, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.config import Settings
from service.state.connection import open_redis
from service.state.stores import Stores
from service.web.console.throttle import SignInThrottle
from service.web.refusals import RefusalLog


@dataclass(frozen=True, slots=True)
class WebDeps:
    settings: Settings
    stores: Stores
    refusals: RefusalLog = field(default_factory=RefusalLog)
    sign_in_throttle: SignInThrottle = field(default_factory=SignInThrottle)

    @classmethod
    def build(cls, settings: Settings) -> WebDeps:
        return cls(settings=settings, stores=Stores.over(open_redis(settings.redis_url)))

    async def close(self) -> None:
        await self.stores.redis.aclose()
