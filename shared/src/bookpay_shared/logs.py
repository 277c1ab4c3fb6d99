"""Logging: one line per record, `time level service logger: message`, to stderr.

Every line goes through `redact` first: a payment link's token (`/pay/<token>`), a Stripe
secret or restricted key, a webhook signing secret or a PaymentIntent's client secret never
reaches a log, whichever code logged it (an exception's text or a traceback included).
"""

from __future__ import annotations

import logging
import re
import sys

_SECRETS = (
    (re.compile(r"/pay/[A-Za-z0-9_-]{8,}"), "/pay/[redacted]"),
    (re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9_]+"), r"\1_\2_[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9_]+"), "whsec_[redacted]"),
    (re.compile(r"\b((?:pi|seti)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+"), r"\1_secret_[redacted]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
