"""A client that creates a customer and a booking in booking-service and at once saves a card
and charges in charge-service gets its answers, not a 404: charge-service waits a moment for
its records to catch up (they arrive through Kafka). One that names what never existed still
gets its 404 or 422, saying the entity may be on its way."""

import time
import uuid

import pytest

from .support import Bookpay, Customer

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_card_and_a_charge_right_after_the_customer_and_booking_were_created(
    bookpay: Bookpay,
) -> None:
    account = await bookpay.new_account()
    created = await bookpay.booking.post(
        f"/v1/accounts/{account}/customers", json={"name": "Ada", "email": "ada@example.com"}
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["customer_id"]
    payment_method_id = await bookpay.tokenize("4242424242424242")
    saved = await bookpay.charge.post(
        f"/v1/accounts/{account}/customers/{customer_id}/payment-methods",
        json={"payment_method_id": payment_method_id, "make_default": True},
    )
    assert saved.status_code == 201, saved.text

    booked = await bookpay.booking.post(
        f"/v1/accounts/{account}/bookings",
        json={
            "customer_id": customer_id,
            "title": "Sunrise paddle",
            "starts_at": "2027-06-01T11:00:00Z",
            "amount": 4000,
            "currency": "usd",
        },
    )
    assert booked.status_code == 201, booked.text
    accepted = await bookpay.charge_card_on_file(
        Customer(account, customer_id, [booked.json()["booking_id"]]), 4000
    )
    assert accepted.status_code == 202, accepted.text


async def test_what_never_existed_is_still_refused_after_a_short_wait(bookpay: Bookpay) -> None:
    account = await bookpay.new_account()
    started = time.monotonic()
    missing = await bookpay.charge.get(
        f"/v1/accounts/{account}/customers/{uuid.uuid4()}/payment-methods"
    )
    waited = time.monotonic() - started
    assert missing.status_code == 404, missing.text
    assert "may still be on its way" in missing.json()["error"]["message"]
    assert 1.5 <= waited < 10
