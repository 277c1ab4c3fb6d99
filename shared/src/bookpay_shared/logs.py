"""Logging: one line per record, `time level service logger: message`, to stderr.

Every line goes through `redact` first: a payment link's token (`/pay/<token>`), a Stripe
secret or restricted key, a webhook signing secret, a PaymentIntent's client secret, an API
key's secret, an identity provider's token (a JWT) or a credential in an Authorization header
never reaches a log, whichever code
logged it (an exception's text or a traceback included).
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


def _not_plaintext_sasl_notice(record: logging.LogRecord) -> bool:
    """aiokafka warns on every connection that SASL PLAIN without TLS sends the password in the
    clear: true, and known from the settings (SASL_PLAINTEXT), so said once at start instead."""
    return not record.getMessage().startswith("Sending username and password in the clear")


def configure(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_not_plaintext_sasl_notice)
    handler.setFormatter(
        RedactingFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # stripe-python and httpx each log every request at INFO: the gateway's own line (one per
    # Stripe call, with its outcome and duration) says it once.
    for noisy in ("aiokafka", "uvicorn.access", "stripe", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
