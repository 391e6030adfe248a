"""Event bodies kept in memory after fan-out, so that most deliveries need no read of the event log."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from service.state.eventlog import EventLog

#: Bodies kept, newest first out last: a delivery is usually claimed moments after its event is fanned out.
BODY_CACHE_SIZE = 20_000


class BodyCache:
    def __init__(self, eventlog: EventLog, size: int = BODY_CACHE_SIZE) -> None:
        self._eventlog = eventlog
        self._size = size
        self._bodies: OrderedDict[str, bytes] = OrderedDict()

    def remember(self, event_id: str, body: bytes) -> None:
        self._bodies[event_id] = body
        if len(self._bodies) > self._size:
            self._bodies.popitem(last=False)

    async def bodies(self, event_ids: Sequence[str]) -> dict[str, bytes]:
        """The bodies of these events; an event no longer in the log is left out."""
        found = {event_id: self._bodies[event_id] for event_id in event_ids if event_id in self._bodies}
        missing = [event_id for event_id in event_ids if event_id not in found]
        if missing:
            found.update(await self._eventlog.bodies(missing))
        return found
