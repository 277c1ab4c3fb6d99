"""Logging: one line per record, to stderr, as text (`time level service logger: message`) or
as JSON (one object per line), chosen by `<PREFIX>_LOG_FORMAT`.

Every line goes through `redact` first: a payment link's token (`/pay/<token>`), a Stripe
secret or restricted key, a webhook signing secret, a PaymentIntent's client secret, an API
key's secret, an identity provider's token (a JWT) or a credential in an Authorization header
never reaches a log, whichever code
logged it (an exception's text or a traceback included).

A line says where it comes from without its caller passing anything: written while a consumed
event is handled (`handling`, set by `consuming`), it carries the record's topic, partition and
offset and the event's id, type and correlation id; written while a span is active, its trace
id (and, in JSON, its span id). In text they follow the message:
`... charge 7c1e… applied [payment-succeeded[3]@120 PaymentSucceeded event=… correlation=…]
trace=4bf92f3577b34da6a3ce929d0e0e4736`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bookpay_shared.tracing import current_ids

LogFormat = Literal["text", "json"]

_SECRETS = (
    (re.compile(r"/pay/[A-Za-z0-9_-]{8,}"), "/pay/[redacted]"),
    (re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9_]+"), r"\1_\2_[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9_]+"), "whsec_[redacted]"),
    (re.compile(r"\b((?:pi|seti)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+"), r"\1_secret_[redacted]"),
    # An API key's secret (its key id is public); any credential in an Authorization header.
    (re.compile(r"\b(bp_(?:live|test)_[0-9a-f]{32})_[0-9a-f]+"), r"\1_[redacted]"),
    (re.compile(r"\b(Bearer|Basic) [A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    # A JWT anywhere: its header and payload are base64url JSON, so it starts with "eyJ".
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "[jwt redacted]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


@dataclass(frozen=True)
class EventContext:
    """The consumed record (and its event) being handled."""

    topic: str
    partition: int
    offset: int
    event_type: str | None = None
    event_id: str | None = None
    correlation_id: str | None = None

    def text(self) -> str:
        """`[topic[partition]@offset Type event=… correlation=…]`: what text lines append."""
        parts = [f"[{self.topic}[{self.partition}]@{self.offset}"]
        if self.event_type:
            parts.append(self.event_type)
        if self.event_id:
            parts.append(f"event={self.event_id}")
        if self.correlation_id:
            parts.append(f"correlation={self.correlation_id}")
        return " ".join(parts) + "]"

    def fields(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "correlation_id": self.correlation_id,
        }


_event: ContextVar[EventContext | None] = ContextVar("bookpay_event", default=None)


@contextmanager
def handling(event: EventContext) -> Iterator[None]:
    """Every line logged inside (in this task, and in tasks it starts) carries `event`."""
    token = _event.set(event)
    try:
        yield
    finally:
        _event.reset(token)


def current_event() -> EventContext | None:
    return _event.get()


class TextFormatter(RedactingFormatter):
    """`time level service logger: message [event] trace=…`, then any traceback."""

    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        event = _event.get()
        if event is not None:
            line += " " + event.text()
        ids = current_ids()
        if ids is not None:
            line += f" trace={ids[0]}"
        return line


# A LogRecord's own attributes; any other attribute came from `extra=` and goes into JSON too.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, service, logger, message, then
    trace_id/span_id, the handled event's fields, the `extra=` fields and the exception's
    text, when there are."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = current_ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        event = _event.get()
        if event is not None:
            line |= event.fields()
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return redact(json.dumps(line, default=str, ensure_ascii=False))


def _not_plaintext_sasl_notice(record: logging.LogRecord) -> bool:
    """aiokafka warns on every connection that SASL PLAIN without TLS sends the password in the
    clear: true, and known from the settings (SASL_PLAINTEXT), so said once at start instead."""
    return not record.getMessage().startswith("Sending username and password in the clear")


def formatter(service: str, log_format: LogFormat = "text") -> logging.Formatter:
    return JsonFormatter(service) if log_format == "json" else TextFormatter(service)


def configure(service: str, level: str = "INFO", log_format: LogFormat = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_not_plaintext_sasl_notice)
    handler.setFormatter(formatter(service, log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # stripe-python and httpx each log every request at INFO: the gateway's own line (one per
    # Stripe call, with its outcome and duration) says it once. uvicorn's access log is off:
    # `access.AccessLog` writes one line per request instead, with the route, not the path.
    for noisy in ("aiokafka", "uvicorn.access", "stripe", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
