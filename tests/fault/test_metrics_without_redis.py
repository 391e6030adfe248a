"""`/metrics` while Redis is down, with a real web process: 200 with what the process has (its own counters
and the process metrics), and a gauge saying Redis is unreachable; the figures read from Redis come back
with it."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import NUDGE, account_table
from tests.support.procs import Valkey
from tests.support.relay import relay_stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault


def test_metrics_answer_200_without_redis() -> None:
    redis = Valkey().start()
    try:
        toml = account_table("down", "smsonline", "http://127.0.0.1:9")
        with relay_stack(redis.url, toml, workers=0) as relay:
            assert "relay_redis_up 1.0" in relay.http.get("/metrics").text
            nudge = relay.http.post("/webhooks/down", headers={"authorization": f"Bearer {NUDGE}"})
            assert nudge.status_code == 202
            redis.stop()
            assert relay.http.get("/readyz").status_code == 503
            started = time.monotonic()
            down = relay.http.get("/metrics")
            assert down.status_code == 200
            assert time.monotonic() - started < 3
            assert "relay_redis_up 0.0" in down.text
            assert "process_resident_memory_bytes " in down.text
            assert 'relay_callbacks_total{account="down",result="accepted"} 1.0' in down.text
            assert "relay_queue_depth" not in down.text  # read from Redis: absent rather than stale
            redis = Valkey(port=redis.port).start()
            wait_until(
                lambda: "relay_redis_up 1.0" in relay.http.get("/metrics").text or None,
                timeout=10,
                what="the metrics read from Redis again",
            )
    finally:
        redis.stop()
