"""`Coalescer`: concurrent submits gathered into batches, one write per batch, with a fake write."""

from __future__ import annotations

import asyncio

import pytest

from service.state.coalesce import Coalescer

#: Longer than any test here waits on submits whose write was let through.
DEADLINE_S = 2.0


class WriteFailed(Exception):
    pass


class GatedWrite:
    """Records each batch, then holds it until the test lets one write through; fails a batch holding "poison"."""

    def __init__(self, *, permits: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.permits = asyncio.Semaphore(permits)
        self.raised: list[WriteFailed] = []

    async def __call__(self, items: list[str]) -> None:
        self.batches.append(list(items))
        await self.permits.acquire()
        if "poison" in items:
            error = WriteFailed(f"batch of {len(items)}")
            self.raised.append(error)
            raise error


async def settle() -> None:
    """Let every task that is ready run, without letting any time pass: what happens here needs no timer."""
    for _ in range(20):
        await asyncio.sleep(0)


def submitted(coalescer: Coalescer[str], items: list[str]) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(coalescer.submit(item)) for item in items]


async def test_a_lone_submit_is_written_at_once() -> None:
    write = GatedWrite(permits=1)
    coalescer = Coalescer(write)
    (lone,) = submitted(coalescer, ["a"])
    await settle()
    assert lone.done()
    assert lone.result() is None
    assert write.batches == [["a"]]


async def test_submits_during_a_write_share_the_next_write() -> None:
    write = GatedWrite()
    coalescer = Coalescer(write)
    (first,) = submitted(coalescer, ["a"])
    await settle()
    assert write.batches == [["a"]]  # in flight

    waiting = submitted(coalescer, [f"item-{i}" for i in range(50)])
    await settle()
    assert write.batches == [["a"]]  # nothing more is written while the first write runs
    assert not any(task.done() for task in waiting)

    write.permits.release()
    await settle()
    assert first.done()
    assert write.batches == [["a"], [f"item-{i}" for i in range(50)]]
    assert not any(task.done() for task in waiting)  # a submit returns only once its own batch is written

    write.permits.release()
    async with asyncio.timeout(DEADLINE_S):
        await asyncio.gather(*waiting)
    assert len(write.batches) == 2


async def test_a_batch_keeps_the_order_of_its_submits() -> None:
    write = GatedWrite()
    coalescer = Coalescer(write)
    in_flight = submitted(coalescer, ["first"])
    await settle()
    order = ["zeta", "alpha", "mu", "beta", "omega", "alpha"]
    waiting = submitted(coalescer, order)
    await settle()
    write.permits.release()
    write.permits.release()
    async with asyncio.timeout(DEADLINE_S):
        await asyncio.gather(*in_flight, *waiting)
    assert write.batches == [["first"], order]


async def test_a_failed_write_raises_in_each_of_its_waiters_and_the_next_batch_is_still_written() -> None:
    write = GatedWrite()
    coalescer = Coalescer(write)
    first = submitted(coalescer, ["a"])
    await settle()
    failing = submitted(coalescer, ["poison", "b", "c"])
    await settle()
    write.permits.release()  # "a" is written; the batch with the poison goes out
    await settle()
    after = submitted(coalescer, ["d", "e"])  # gathered while the failing write is in flight
    await settle()
    write.permits.release()  # the poisoned write fails
    write.permits.release()  # the batch after it
    async with asyncio.timeout(DEADLINE_S):
        outcomes = await asyncio.gather(*first, *failing, *after, return_exceptions=True)

    assert write.batches == [["a"], ["poison", "b", "c"], ["d", "e"]]
    (error,) = write.raised
    assert outcomes == [None, error, error, error, None, None]


async def test_a_submit_after_a_failed_write_starts_a_new_write() -> None:
    write = GatedWrite(permits=2)
    coalescer = Coalescer(write)
    with pytest.raises(WriteFailed):
        async with asyncio.timeout(DEADLINE_S):
            await coalescer.submit("poison")
    async with asyncio.timeout(DEADLINE_S):
        await coalescer.submit("a")
    assert write.batches == [["poison"], ["a"]]
