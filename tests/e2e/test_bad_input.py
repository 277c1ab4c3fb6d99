"""Bad HTTP input gets a 4xx with a clear JSON error, never a 500, and changes nothing."""

import uuid
from typing import Any

import httpx
import pytest

from .support import Bookpay, Customer

pytestmark = pytest.mark.asyncio(loop_scope="session")


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] and error["message"]
    return error


@pytest.fixture
async def customer(bookpay: Bookpay) -> Customer:
    return await bookpay.new_customer(await bookpay.new_account(), [5000])


def charge_body(customer: Customer, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer.customer_id,
        "booking_ids": customer.booking_ids,
        "amount": 5000,
        "currency": "usd",
        "method": "card_on_file",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": -100}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": 12.5}, "amount"),
        ({"currency": "zzz"}, "currency"),
        ({"currency": "USD"}, "currency"),
        ({"method": "cash"}, "method"),
        ({"booking_ids": []}, "booking_ids"),
        ({"customer_id": None}, "customer_id"),
        ({"customer_id": "not-a-uuid"}, "customer_id"),
        ({"method": "new_card"}, "payment_method_id"),
        ({"payment_method_id": "card_123"}, "payment_method_id"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_invalid_charge_requests_are_refused(
    bookpay: Bookpay, customer: Customer, changes: dict[str, Any], field: str
) -> None:
    response = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges", json=charge_body(customer, **changes)
    )
    error = error_of(response, 422)
    assert field in error["message"]


async def test_unknown_customer_booking_and_amount_mismatch(
    bookpay: Bookpay, customer: Customer
) -> None:
    url = f"/v1/accounts/{customer.account_id}/charges"
    unknown_customer = await bookpay.charge.post(
        url, json=charge_body(customer, customer_id=str(uuid.uuid4()))
    )
    assert error_of(unknown_customer, 404)["code"] == "not_found"
    unknown_booking = await bookpay.charge.post(
        url, json=charge_body(customer, booking_ids=[str(uuid.uuid4())])
    )
    assert "unknown booking" in error_of(unknown_booking, 422)["message"]
    too_much = await bookpay.charge.post(url, json=charge_body(customer, amount=5001))
    assert "exceeds" in error_of(too_much, 422)["message"]
    other_currency = await bookpay.charge.post(url, json=charge_body(customer, currency="eur"))
    assert "currency" in error_of(other_currency, 422)["message"]
    unknown_charge = await bookpay.charge.get(f"{url}/{uuid.uuid4()}")
    error_of(unknown_charge, 404)


async def test_malformed_json_is_refused(bookpay: Bookpay, customer: Customer) -> None:
    response = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges",
        content=b'{"amount": ',
        headers={"content-type": "application/json"},
    )
    error_of(response, 422)


async def test_invalid_utf8_is_refused_by_every_service(
    bookpay: Bookpay, customer: Customer
) -> None:
    """Bytes that are not UTF-8 in a JSON body: a 422 naming the field, never a 500."""
    account = customer.account_id
    for client, path in (
        (bookpay.booking, f"/v1/accounts/{account}/customers"),
        (bookpay.charge, f"/v1/accounts/{account}/charges"),
    ):
        response = await client.post(
            path,
            content=b'{"name": "Kay\xffaks", "email": "a@x.co"}',
            headers={"content-type": "application/json"},
        )
        error = error_of(response, 422)
        assert (error["code"], error["message"]) == ("invalid_request", "name: not valid UTF-8")


async def test_booking_service_refuses_bad_input(bookpay: Bookpay, customer: Customer) -> None:
    account = customer.account_id
    no_name = await bookpay.booking.post("/v1/accounts", json={"admins": []})
    assert "name" in error_of(no_name, 422)["message"]
    bad_email = await bookpay.booking.post(
        "/v1/accounts", json={"name": "X", "admins": [{"name": "A", "email": "not-an-email"}]}
    )
    assert "email" in error_of(bad_email, 422)["message"]
    unknown_account = await bookpay.booking.post(
        f"/v1/accounts/{uuid.uuid4()}/customers", json={"name": "A", "email": "a@example.com"}
    )
    error_of(unknown_account, 404)
    booking = {
        "customer_id": customer.customer_id,
        "title": "Tour",
        "starts_at": "2027-01-01T10:00:00Z",
        "amount": 100,
        "currency": "usd",
    }
    for changes, field in (
        ({"amount": -1}, "amount"),
        ({"currency": "abc"}, "currency"),
        ({"starts_at": "2027-01-01T10:00:00"}, "starts_at"),
        ({"title": ""}, "title"),
    ):
        response = await bookpay.booking.post(
            f"/v1/accounts/{account}/bookings", json=booking | changes
        )
        assert field in error_of(response, 422)["message"]
    unknown_customer = await bookpay.booking.post(
        f"/v1/accounts/{account}/bookings", json=booking | {"customer_id": str(uuid.uuid4())}
    )
    error_of(unknown_customer, 404)
    error_of(await bookpay.booking.get(f"/v1/accounts/{account}/bookings/{uuid.uuid4()}"), 404)
    error_of(await bookpay.booking.get(f"/v1/accounts/{account}/bookings/not-a-uuid"), 422)


async def test_saving_cards_refuses_bad_input(bookpay: Bookpay, customer: Customer) -> None:
    url = f"/v1/accounts/{customer.account_id}/customers/{customer.customer_id}/payment-methods"
    error_of(await bookpay.charge.post(url, json={"payment_method_id": "tok_visa"}), 422)
    unknown = await bookpay.charge.post(url, json={"payment_method_id": "pm_doesnotexist"})
    assert error_of(unknown, 422)["code"] == "stripe_rejected"
    not_connected = await bookpay.new_customer(await bookpay.new_account(connected=False), [100])
    pm = await bookpay.tokenize("4242424242424242")
    refused = await bookpay.charge.post(
        f"/v1/accounts/{not_connected.account_id}/customers/{not_connected.customer_id}/payment-methods",
        json={"payment_method_id": pm},
    )
    assert error_of(refused, 409)["code"] == "stripe_not_connected"
    bad_connection = await bookpay.charge.put(
        f"/v1/accounts/{customer.account_id}/stripe-connection", json={"stripe_account_id": "nope"}
    )
    error_of(bad_connection, 422)


async def test_control_characters_and_loose_types_are_refused_with_the_field_named(
    bookpay: Bookpay, customer: Customer
) -> None:
    """NUL and other control characters used to reach PostgreSQL (a 500 after the request was
    accepted); booleans and integers were guessed from "yes", 0 or "5"."""
    account = customer.account_id
    admin = {"name": "Ann", "email": "ann@example.com"}
    for path, body, field in (
        ("/v1/accounts", {"name": "Kayaks\x00"}, "name"),
        ("/v1/accounts", {"name": "K", "admins": [{**admin, "name": "A\x1b[31m"}]}, "name"),
        ("/v1/accounts", {"name": "K", "notify_admins_on_link_payment": "yes"}, "notify"),
        (f"/v1/accounts/{account}/customers", {"name": "A\x00", "email": "a@x.co"}, "name"),
        (
            f"/v1/accounts/{account}/bookings",
            {
                "customer_id": customer.customer_id,
                "title": "Tour\x00",
                "starts_at": "2027-01-01T10:00:00Z",
                "amount": 100,
                "currency": "usd",
            },
            "title",
        ),
        (
            f"/v1/accounts/{account}/api-keys",
            {"scopes": ["read"], "description": "ci\x00"},
            "description",
        ),
    ):
        response = await bookpay.booking.post(path, json=body)
        assert field in error_of(response, 422)["message"], (path, body)
    patch = await bookpay.booking.patch(
        f"/v1/accounts/{account}", json={"notify_admins_on_link_payment": 0}
    )
    assert "notify_admins_on_link_payment" in error_of(patch, 422)["message"]

    for changes, field in (
        ({"message": "Thanks\x00"}, "message"),
        ({"fallback_to_link": 0}, "fallback_to_link"),
        ({"method": "payment_link", "link_expires_in_hours": "5"}, "link_expires_in_hours"),
    ):
        response = await bookpay.charge.post(
            f"/v1/accounts/{account}/charges", json=charge_body(customer, **changes)
        )
        assert field in error_of(response, 422)["message"], changes
    # A message may break lines.
    multi_line = await bookpay.charge.post(
        f"/v1/accounts/{account}/charges",
        json=charge_body(customer, method="payment_link", message="Hi Ada,\nsee you soon."),
    )
    assert multi_line.status_code == 202, multi_line.text


async def test_one_mailbox_is_one_administrator(bookpay: Bookpay) -> None:
    """The same address twice, in any case, used to give two rows for one mailbox (or a 500)."""
    admins = [
        {"name": "Ann", "email": "ann@example.com"},
        {"name": "Ann again", "email": "Ann@Example.COM"},
    ]
    created = await bookpay.booking.post("/v1/accounts", json={"name": "K", "admins": admins})
    assert "listed twice" in error_of(created, 422)["message"]
    account = await bookpay.new_account()
    patched = await bookpay.booking.patch(f"/v1/accounts/{account}", json={"admins": admins})
    assert "listed twice" in error_of(patched, 422)["message"]
