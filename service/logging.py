"""structlog set-up for every process: JSON lines in production, readable console output in development.

Secrets are redacted by a processor that knows every configured secret value, so a secret can't leak even
through an error message that quotes it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

from service.tracing import add_trace_ids

REDACTED = "[redacted]"


class SecretRedactor:
    """Replaces any configured secret value, wherever it appears in an event's string values."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Very short values would redact ordinary words; config validation makes real secrets longer.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(item) for item in value]
        return value

    def __call__(self, logger: Any, method: str, event_dict: EventDict) -> EventDict:
        if not self.secrets:
            return event_dict
        for key, value in event_dict.items():
            event_dict[key] = self.scrub(value)
        return event_dict


class RedactingFilter(logging.Filter):
    """The redactor for a standard-library logger whose records do not go through structlog's processors."""

    def __init__(self, redactor: SecretRedactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactor.secrets:
            record.msg = self.redactor.scrub(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(self.redactor.scrub(arg) for arg in record.args)
            elif isinstance(record.args, dict):
                record.args = self.redactor.scrub(record.args)
        return True


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("relay").critical("uncaught_exception", exc_info=(kind, exc, tb))


def wants_json(log_format: str | None) -> bool:
    """JSON unless the format is "console", or unset and standard error is a terminal."""
    if log_format is not None:
        return log_format == "json"
    return not sys.stderr.isatty()


def configure_logging(secrets: Iterable[str] = (), *, log_format: str | None = None, level: str = "INFO") -> None:
    """`log_format` and `level` as validated by `service.config` (RELAY_LOG_FORMAT, RELAY_LOG_LEVEL)."""
    use_json = wants_json(log_format)
    log_level = logging.getLevelNamesMapping()[level]
    redactor = SecretRedactor(secrets)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(log_level),
        cache_logger_on_first_use=True,
    )
    # Standard-library loggers (arq, uvicorn) go through the same processors and redaction.
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=shared,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level)
    # Python's warnings and an exception that ends the process are log lines like any other.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    # httpx logs every request's full URL at INFO, and SMSOnline's carries the API key in its query.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn.access keeps its own switch (`--no-access-log` leaves it without a handler, and it does not
    # propagate): a handler it has is replaced by the one above. The record's message is formatted before the
    # processors see it, and a nudge's `?token=` is in the path it logs: redacted by a filter.
    access = logging.getLogger("uvicorn.access")
    if access.handlers:
        access.handlers[:] = [handler]
    access.filters[:] = [f for f in access.filters if not isinstance(f, RedactingFilter)]
    access.addFilter(RedactingFilter(redactor))
    for name in ("uvicorn", "uvicorn.error", "arq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # arq logs every job start and end at INFO; that detail is for debugging.
    arq_level = logging.DEBUG if log_level <= logging.DEBUG else logging.WARNING
    for name in ("arq.worker", "arq.jobs"):
        logging.getLogger(name).setLevel(arq_level)
