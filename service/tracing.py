"""OpenTelemetry tracing, configured only by the standard `OTEL_*` variables; off unless an OTLP endpoint is set.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) unset, nothing is configured:
no provider, no exporter, and `TRACING.on` is False, which the hot paths check before making a span or
carrying a trace context (a check of one attribute). With it set, spans go through a batching processor to
the OTLP/HTTP exporter, which reads the rest of its settings (headers, timeout, protocol details) from the
`OTEL_EXPORTER_OTLP_*` variables itself; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER` and `OTEL_SDK_DISABLED` are honoured by the SDK.

A trace crosses processes as a W3C `traceparent` string: the web records the callback's with the trigger in
Redis, the sync that serves it continues that trace, and each event keeps the traceparent of the commit that
logged it, so its fan-out and delivery attempts join the same trace.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import Link, Span, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from structlog.typing import EventDict

_PROPAGATOR = TraceContextTextMapPropagator()
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class _Tracing:
    """Whether tracing is on in this process, and its tracer (the API's no-op one while off)."""

    def __init__(self) -> None:
        self.on = False
        self.tracer: trace.Tracer = trace.get_tracer("invoice-relay")


TRACING = _Tracing()


def wanted(environ: Mapping[str, str]) -> bool:
    """Tracing is asked for: an OTLP endpoint is set and the SDK is not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in _ENDPOINT_VARIABLES)


def configure_tracing(process: str, environ: Mapping[str, str] | None = None) -> bool:
    """Set up exporting for this process (`web` or `worker`) when the environment asks for it; True if on."""
    env = os.environ if environ is None else environ
    if not wanted(env):
        return False
    # Imported here: a process without tracing never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: f"invoice-relay-{process}"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    TRACING.tracer = trace.get_tracer("invoice-relay")
    TRACING.on = True
    return True


def shutdown_tracing() -> None:
    """Export what is buffered (at most a few seconds), then stop."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if TRACING.on and shutdown is not None:
        shutdown()


def traceparent(span: Span | None = None) -> str:
    """The W3C traceparent of `span` (the current one by default); '' when there is none. Written out here
    rather than through the propagator's carrier: it is on the callback path."""
    current = trace.get_current_span() if span is None else span
    ctx = current.get_span_context()
    if not ctx.is_valid:
        return ""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def recording_traceparent() -> tuple[str, ...]:
    """The current span's traceparent, to carry along, when it is recorded (sampled); else nothing: a trace the
    sampler left out costs no more than its decision."""
    span = trace.get_current_span()
    return (traceparent(span),) if span.is_recording() else ()


def span_context_of(value: str) -> SpanContext | None:
    """The remote span a traceparent names; None for '' or anything malformed."""
    if not value:
        return None
    span_context = trace.get_current_span(_PROPAGATOR.extract({"traceparent": value})).get_span_context()
    return span_context if span_context.is_valid else None


def parent_and_links(traceparents: Iterable[str]) -> tuple[context.Context | None, list[Link]]:
    """For work that serves several traced requests: the first one's context as the parent (one request makes
    one connected trace) and a link to each."""
    contexts = [c for c in map(span_context_of, traceparents) if c is not None]
    if not contexts:
        return None, []
    parent = trace.set_span_in_context(trace.NonRecordingSpan(contexts[0]))
    return parent, [Link(c) for c in contexts]


def trace_id_of(value: str) -> str | None:
    """The 32-hex trace id inside a traceparent; None when there is none."""
    span_context = span_context_of(value)
    return None if span_context is None else trace.format_trace_id(span_context.trace_id)


def add_trace_ids(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: a line written inside a span carries its `trace_id` and `span_id`."""
    if TRACING.on:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            event_dict["trace_id"] = trace.format_trace_id(span_context.trace_id)
            event_dict["span_id"] = trace.format_span_id(span_context.span_id)
    return event_dict
