"""An OTLP/HTTP trace receiver in the test process: what real web and worker processes export, decoded.

Exports are kept as received and decoded when read: the receiver shares the machine with the processes it
receives from (and, in the benchmarks, with the load generator), and a collector would decode elsewhere."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.procs import free_port


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, object]
    links: tuple[tuple[str, str], ...]
    status_code: int
    start_ns: int
    end_ns: int


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    spans: list[ExportedSpan] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    decoded: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def snapshot(self) -> list[ExportedSpan]:
        with self.lock:
            for body in self.raw[self.decoded :]:
                self.spans.extend(_decode(body))
            self.decoded = len(self.raw)
            return list(self.spans)

    def named(self, name: str) -> list[ExportedSpan]:
        return [span for span in self.snapshot() if span.name == name]

    def trace(self, trace_id: str) -> list[ExportedSpan]:
        return [span for span in self.snapshot() if span.trace_id == trace_id]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self.lock:
            self.raw.append(body)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )


def _decode(body: bytes) -> list[ExportedSpan]:
    export = ExportTraceServiceRequest()
    export.ParseFromString(body)
    return [
        ExportedSpan(
            service=_service(resource_spans),
            name=span.name,
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_span_id=span.parent_span_id.hex(),
            attributes={a.key: _value(a.value) for a in span.attributes},
            links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
            status_code=span.status.code,
            start_ns=span.start_time_unix_nano,
            end_ns=span.end_time_unix_nano,
        )
        for resource_spans in export.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


def _service(resource_spans: object) -> str:
    for attribute in resource_spans.resource.attributes:  # type: ignore[attr-defined]
        if attribute.key == "service.name":
            return str(attribute.value.string_value)
    return ""


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/v1/traces", receiver.handle)
    runner = web.AppRunner(app)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", receiver.port).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
