"""Client secrets never reach the logs: not through our objects' repr, not through
stripe-python's DEBUG records of response bodies."""

import importlib
import logging

from link_service.usecases.payments import PaymentStart
from link_service.usecases.ports import Intent

SECRET = "pi_123_secret_abcdef"


def test_objects_holding_a_client_secret_leave_it_out_of_their_repr() -> None:
    intent = Intent("pi_123", "requires_payment_method", 100, "usd", {}, client_secret=SECRET)
    started = PaymentStart("requires_payment_method", SECRET)

    assert SECRET not in repr(intent) and SECRET not in str(intent)
    assert SECRET not in repr(started) and SECRET not in f"{started}"
    assert "pi_123" in repr(intent)
    assert intent.client_secret == started.client_secret == SECRET


def test_stripe_python_logs_no_response_bodies_even_at_debug() -> None:
    # The Stripe adapter caps stripe-python's logger when it is imported, as main imports it.
    importlib.import_module("link_service.adapters.stripe_gateway")
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.DEBUG)
    try:
        assert not logging.getLogger("stripe").isEnabledFor(logging.DEBUG)
        assert logging.getLogger("stripe").isEnabledFor(logging.INFO)
    finally:
        root.setLevel(before)
