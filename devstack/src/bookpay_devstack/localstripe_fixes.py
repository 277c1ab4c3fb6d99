"""Where localstripe departs from real Stripe in a way our flows depend on, it is brought in
line here (and nowhere else); each fix names the real behaviour it restores.

- A PaymentIntent declined once goes back to `requires_payment_method`; real Stripe lets it be
  confirmed again with another PaymentMethod (one PaymentIntent per payment, however many
  cards are tried). localstripe keeps the failed charge as the PaymentIntent's latest charge,
  so the PaymentIntent stays `requires_payment_method` even after a new PaymentMethod is set,
  and every later confirm is refused. Setting a new PaymentMethod now forgets the failed
  charge, as in real Stripe.
"""

from __future__ import annotations

from typing import Any


def apply(resources: Any) -> None:
    intent_class = resources.PaymentIntent
    original_update = intent_class._update

    def _update(self: Any, **data: Any) -> None:
        retry = "payment_method" in data and self.status == "requires_payment_method"
        original_update(self, **data)
        if retry and self.latest_charge is not None and self.latest_charge.status == "failed":
            self.latest_charge = None
            self._authentication_failed = False

    intent_class._update = _update
