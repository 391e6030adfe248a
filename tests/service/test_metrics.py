"""The web's exposition: its own registry, the figures read from Redis, and the workers' published samples."""

from __future__ import annotations

import orjson

from service.metrics import DELIVERY_ATTEMPTS, render, worker_samples
from service.state.memory import Memory
from service.state.stores import Figures


def figures(workers: dict[str, bytes]) -> Figures:
    return Figures(
        read_at_ms=1_800_000_000_000,
        queue_depths={"syncs_due": 2},
        subscriptions=(),
        state_lost_at_ms=None,
        memory=Memory(used_bytes=1000, max_bytes=0, policy="noeviction"),
        workers=workers,
    )


def type_lines(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]


def test_workers_samples_join_the_web_s_families_labelled_with_the_worker() -> None:
    DELIVERY_ATTEMPTS.labels("delivered").inc()
    published = worker_samples()
    assert b"_created" not in published
    text = render(figures({"w1": published, "w2": published}))[0].decode()
    types = type_lines(text)
    assert len(types) == len(set(types))
    own = next(
        line for line in text.splitlines() if line.startswith('relay_delivery_attempts_total{result="delivered"} ')
    )
    for worker in ("w1", "w2"):
        assert f'relay_delivery_attempts_total{{result="delivered",worker="{worker}"}} {own.split()[1]}' in text
        assert f'process_cpu_seconds_total{{worker="{worker}"}}' in text
    assert 'relay_queue_depth{queue="syncs_due"} 2.0' in text
    assert "relay_redis_up 1.0" in text
    assert "relay_workers_reporting 2.0" in text
    # Merging leaves the registry as it was: the next scrape shows each worker once.
    again = render(figures({"w1": published}))[0].decode()
    assert again.count("python_info{") == 2


def test_a_payload_that_does_not_parse_is_left_out_and_a_clashing_family_is_skipped() -> None:
    clashing = orjson.dumps(
        [
            {"name": "relay_queue_depth", "type": "gauge", "help": "old", "samples": [["relay_queue_depth", {}, 9]]},
            {"name": "relay_syncs", "type": "gauge", "help": "wrong type", "samples": [["relay_syncs", {}, 9]]},
        ]
    )
    text = render(figures({"bad": b"{not json", "odd": b'[{"name": 1}]', "old": clashing}))[0].decode()
    assert 'worker="' not in text
    types = type_lines(text)
    assert len(types) == len(set(types))


def test_without_redis_the_process_s_own_metrics_are_served() -> None:
    text = render(None)[0].decode()
    assert "relay_redis_up 0.0" in text
    assert "process_cpu_seconds_total " in text
    assert "relay_queue_depth" not in text
