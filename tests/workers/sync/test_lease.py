"""`LeaseHolder`: renewing a sync's claim while the sync runs, against a fake schedule (only `renew` is used)."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise
from typing import cast

import pytest

from service.state.scheduling import Claim, SyncSchedule
from workers.sync.lease import LeaseHolder, LeaseLost

#: Short, so that several renewals take a fraction of a second; renewals come every LEASE_MS / 3.
LEASE_MS = 90
#: Longer than any test here waits on the work it starts.
DEADLINE_S = 2.0


class FakeSchedule:
    """Grants renewals until `refuse_from` of them were made; records each one."""

    def __init__(self, refuse_from: int | None = None) -> None:
        self.refuse_from = refuse_from
        self.renewals: list[tuple[Claim, int, int]] = []
        self.renewed_at: list[float] = []
        self.renewed = asyncio.Condition()

    async def renew(self, claim: Claim, now_ms: int, lease_ms: int) -> Claim | None:
        self.renewals.append((claim, now_ms, lease_ms))
        self.renewed_at.append(time.monotonic())
        async with self.renewed:
            self.renewed.notify_all()
        if self.refuse_from is not None and len(self.renewals) > self.refuse_from:
            return None
        # A new token per renewal, so that the test can tell which claim the holder kept.
        return Claim(claim.account, f"renewal-{len(self.renewals)}", now_ms + lease_ms)

    async def wait_for_renewals(self, count: int) -> None:
        async with self.renewed:
            await self.renewed.wait_for(lambda: len(self.renewals) >= count)


def holder_over(schedule: FakeSchedule) -> LeaseHolder:
    claim = Claim("shop", "worker-1:shop", int(time.time() * 1000) + LEASE_MS)
    return LeaseHolder(cast(SyncSchedule, schedule), claim, LEASE_MS)


async def test_work_finishing_before_the_first_renewal_returns_its_result_without_renewing() -> None:
    schedule = FakeSchedule()

    async def quick() -> str:
        return "synced"

    assert await holder_over(schedule).run(quick()) == "synced"
    assert schedule.renewals == []


async def test_long_work_is_renewed_every_third_of_the_lease_and_the_claim_follows() -> None:
    schedule = FakeSchedule()
    holder = holder_over(schedule)
    first_claim = holder.claim

    async def spans_three_renewals() -> str:
        await schedule.wait_for_renewals(3)
        return "synced"

    started = time.monotonic()
    async with asyncio.timeout(DEADLINE_S):
        assert await holder.run(spans_three_renewals()) == "synced"

    assert len(schedule.renewals) == 3
    claims = [claim for claim, _, _ in schedule.renewals]
    assert claims[0] == first_claim
    # Each renewal presents the claim the previous one returned, and the holder keeps the last.
    assert [claim.token for claim in claims[1:]] == ["renewal-1", "renewal-2"]
    assert holder.claim.token == "renewal-3"
    assert holder.claim.lease_end_ms == schedule.renewals[-1][1] + LEASE_MS
    assert all(lease_ms == LEASE_MS for _, _, lease_ms in schedule.renewals)
    # Every LEASE_MS / 3 (30 ms): never sooner. A busy machine makes a gap longer, never shorter, so the shortest
    # one is the holder's own interval, and it must leave room for a failed renewal inside the lease.
    gaps_ms = [(later - earlier) * 1000 for earlier, later in pairwise([started, *schedule.renewed_at])]
    assert min(gaps_ms) >= LEASE_MS / 3 - 2, gaps_ms
    assert min(gaps_ms) < LEASE_MS / 2, gaps_ms


async def test_a_lost_lease_cancels_the_work_and_raises_lease_lost() -> None:
    schedule = FakeSchedule(refuse_from=1)
    work = asyncio.create_task(asyncio.Event().wait())  # a sync that would run forever

    with pytest.raises(LeaseLost, match="shop"):
        async with asyncio.timeout(DEADLINE_S):
            await holder_over(schedule).run(work)

    await asyncio.wait({work}, timeout=DEADLINE_S)
    assert work.cancelled()
    assert len(schedule.renewals) == 2


async def test_the_works_exception_propagates() -> None:
    schedule = FakeSchedule()

    async def fails_after_a_renewal() -> str:
        await schedule.wait_for_renewals(1)
        raise RuntimeError("provider answered garbage")

    with pytest.raises(RuntimeError, match="provider answered garbage"):
        async with asyncio.timeout(DEADLINE_S):
            await holder_over(schedule).run(fails_after_a_renewal())
    assert len(schedule.renewals) == 1


async def test_cancelling_the_holder_cancels_the_work() -> None:
    schedule = FakeSchedule()
    work_started = asyncio.Event()

    async def runs_forever() -> None:
        work_started.set()
        await asyncio.Event().wait()

    work = asyncio.create_task(runs_forever())
    holder = asyncio.create_task(holder_over(schedule).run(work))
    async with asyncio.timeout(DEADLINE_S):
        await work_started.wait()
    holder.cancel()

    with pytest.raises(asyncio.CancelledError):
        await holder
    await asyncio.wait({work}, timeout=DEADLINE_S)
    assert work.cancelled()
