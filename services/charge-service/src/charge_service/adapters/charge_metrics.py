"""Charges counted by method and outcome (`bookpay_charges_total`), from the events that record
the outcomes.

Every outcome of a charge is written with its event to the outbox in the transaction that
records it (`outcomes`): ChargeAccepted (a payment-link charge passed its checks and waits for
the customer), PaymentSucceeded, PaymentFailed (with its reason; `continued_as_link` when the
bank asked for authentication and the charge goes on as a payment link). Counting those events
once they are published counts exactly the outcomes that were committed: never one whose
transaction rolled back and was tried again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bookpay_shared import topics
from bookpay_shared.metrics import Metrics
from bookpay_shared.outbox import PublishedEvent, PublishListener


def charge_outcomes(metrics: Metrics) -> PublishListener:
    """A publish listener that counts the charge outcomes among the events published."""

    def count(events: Sequence[PublishedEvent]) -> None:
        for event in events:
            if event.topic not in _OUTCOME_TOPICS:
                continue
            fields = json.loads(event.payload)
            method, reason = _text(fields, "method"), _text(fields, "reason")
            if event.topic == topics.PAYMENT_SUCCEEDED:
                metrics.charge(method, "succeeded")
            elif event.topic == topics.CHARGE_ACCEPTED:
                metrics.charge(method, "accepted")
            elif _text(fields, "next_action") == "payment_link":
                metrics.charge(method, "continued_as_link", reason)
            else:
                metrics.charge(method, "failed", reason)

    return count


_OUTCOME_TOPICS = frozenset(
    {topics.PAYMENT_SUCCEEDED, topics.PAYMENT_FAILED, topics.CHARGE_ACCEPTED}
)


def _text(fields: dict[str, object], name: str) -> str:
    value = fields.get(name)
    return value if isinstance(value, str) else ""
