"""Logging: one line per record, `time level service logger: message`, to stderr."""

from __future__ import annotations

import logging
import sys


def _not_plaintext_sasl_notice(record: logging.LogRecord) -> bool:
    """aiokafka warns on every connection that SASL PLAIN without TLS sends the password in the
    clear: true, and known from the settings (SASL_PLAINTEXT), so said once at start instead."""
    return not record.getMessage().startswith("Sending username and password in the clear")


def configure(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_not_plaintext_sasl_notice)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
