"""Event bodies kept in memory after fan-out, so that most deliveries need no read of the event log."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from service.state.eventlog import EventLog

#: Bodies kept, newest first out last: a delivery is usually claimed moments after its event is fanned out.
BODY_CACHE_SIZE = 20_000


class BodyCache:
    """Each event's body, with the traceparent it was logged under ('' when untraced): its delivery attempts
    join that trace."""

    def __init__(self, eventlog: EventLog, size: int = BODY_CACHE_SIZE) -> None:
        self._eventlog = eventlog
        self._size = size
        self._bodies: OrderedDict[str, tuple[bytes, str]] = OrderedDict()

    def remember(self, event_id: str, body: bytes, trace: str = "") -> None:
        self._bodies[event_id] = (body, trace)
        if len(self._bodies) > self._size:
            self._bodies.popitem(last=False)

    async def bodies(self, event_ids: Sequence[str]) -> dict[str, tuple[bytes, str]]:
        """The bodies (and traceparents) of these events; an event no longer in the log is left out."""
        found = {event_id: self._bodies[event_id] for event_id in event_ids if event_id in self._bodies}
        missing = [event_id for event_id in event_ids if event_id not in found]
        if missing:
            found.update(await self._eventlog.bodies_and_traces(missing))
        return found
