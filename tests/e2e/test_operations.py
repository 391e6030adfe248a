"""What an operator sees of real web and worker processes: their log lines, and the web's `/metrics`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import account_table
from tests.e2e.test_delivery import Source, subscribe
from tests.support.procs import Valkey, free_port
from tests.support.relay import Sandbox, relay_stack
from tests.support.subscriber import subscriber_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def parsed_lines(log: str) -> list[dict[str, Any]]:
    """Every line of a process's output (standard output and error), each of which must be a JSON object."""
    lines = log.splitlines()
    assert lines, "the process printed nothing"
    found = []
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from None
        assert isinstance(entry, dict), line
        assert {"event", "level"} <= entry.keys(), line
        found.append(entry)
    return found


@dataclass(frozen=True)
class RunLogs:
    web: list[dict[str, Any]]
    worker: list[dict[str, Any]]
    subscription_id: str
    subscriber_port: int


@pytest.fixture(scope="module")
def run_logs(sandbox: Sandbox) -> RunLogs:
    """A relay at DEBUG (arq's own lines included) that delivers to a subscriber refusing connections, run from
    start to stop, over a Redis of its own (it outlives one test)."""
    toml = account_table("logs", "smsonline", sandbox.url)
    env = {"RELAY_LOG_LEVEL": "DEBUG", "RELAY_RETRY_SCHEDULE": "1,1", "RELAY_DELIVERY_TIMEOUT": "1"}
    port = free_port()  # nothing listens there
    with Valkey() as redis, relay_stack(redis.url, toml, env=env) as relay:
        source = Source(sandbox, relay, "logs")
        subscription = subscribe(relay, f"http://127.0.0.1:{port}/hook")
        source.emit(1)
        (worker,) = relay.workers
        wait_until(lambda: '"delivery_attempt_failed"' in worker.log() or None, timeout=20, what="a failed attempt")
    assert relay.web is not None
    return RunLogs(parsed_lines(relay.web.log()), parsed_lines(worker.log()), subscription["id"], port)


def test_every_line_of_web_and_worker_is_json_from_the_first(run_logs: RunLogs) -> None:
    # uvicorn's and arq's own lines among them, from the first to the last.
    assert any(entry["logger"] == "uvicorn.error" for entry in run_logs.web[:3]), run_logs.web[:3]
    assert any(entry["event"].startswith("Started server process") for entry in run_logs.web)
    assert any(entry["logger"] == "uvicorn.error" for entry in run_logs.web[-3:]), run_logs.web[-3:]
    assert any(entry["event"].startswith("Starting worker") for entry in run_logs.worker[:3]), run_logs.worker[:3]
    assert any(entry["event"] == "worker_stopped" for entry in run_logs.worker)


def test_a_failed_delivery_line_names_its_subscription_host_and_cause(run_logs: RunLogs) -> None:
    failed = [entry for entry in run_logs.worker if entry["event"] == "delivery_attempt_failed"]
    assert failed
    for entry in failed:
        assert entry["subscription_id"] == run_logs.subscription_id
        assert entry["host"] == "127.0.0.1"
        assert entry["error"].startswith(f"cannot connect to 127.0.0.1:{run_logs.subscriber_port}: ")
        assert "ConnectionRefusedError: " in entry["error"]


def sample_sum(text: str, name: str, **labels: str) -> float:
    """The sum of every sample of `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match and all(f'{key}="{value}"' in (match.group(1) or "").split(",") for key, value in labels.items()):
            total += float(match.group(2))
    return total


def test_the_web_s_metrics_show_the_worker_s_deliveries(sandbox: Sandbox, redis_url: str) -> None:
    toml = account_table("mtr", "smsonline", sandbox.url)
    events = 25
    with subscriber_server() as subscriber, relay_stack(redis_url, toml) as relay:
        source = Source(sandbox, relay, "mtr")
        subscription = subscribe(relay, subscriber.url("/mtr"))
        source.emit(events)
        wait_until(lambda: len(subscriber.on("/mtr")) >= events or None, timeout=30, what="the deliveries")
        delivered = len(subscriber.on("/mtr"))

        def scraped() -> str | None:
            text = relay.http.get("/metrics").raise_for_status().text
            shown = sample_sum(text, "relay_delivery_attempts_total", result="delivered")
            return text if shown == delivered else None

        # No worker metrics port: the worker's figures reach the web through Redis.
        text = wait_until(scraped, timeout=20, what="the web's metrics to show every delivery")
        assert re.search(r'relay_delivery_attempts_total\{result="delivered",worker="[^"]+"\} ', text)
        assert sample_sum(text, "relay_workers_reporting") == 1
        assert sample_sum(text, "process_resident_memory_bytes", worker=worker_label(text)) > 0
        per_subscription = {"subscription_id": subscription["id"]}
        assert sample_sum(text, "relay_subscription_delivery_attempts_total", **per_subscription) == delivered
        assert sample_sum(text, "relay_subscription_deliveries_pending", **per_subscription) == 0
        assert sample_sum(text, "relay_redis_up") == 1
        # One family per name, the web's samples and the worker's together: what Prometheus accepts.
        types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
        assert len(types) == len(set(types))


def worker_label(text: str) -> str:
    """The `worker` label of the one worker on the page."""
    match = re.search(r'worker="([^"]+)"', text)
    assert match, text[:2000]
    return match.group(1)
