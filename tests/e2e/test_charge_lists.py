"""Staff lists of charges (charge-service), paged with a cursor as the other staff lists are:
an account's charges and a customer's, newest first, `limit` a page; following `next_cursor`
visits every charge once, and the last page's `next_cursor` is null. Filters (customer,
status, method, a time range) hold on every page; a cursor this API did not give out is 400
`invalid_cursor`, and the lists need a credential of the account with the `read` scope."""

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from .support import Bookpay, Customer
from .test_paged_lists import Item, assert_refuses_made_up_cursors, flat, newest_first, pages

pytestmark = pytest.mark.asyncio(loop_scope="session")

LARGE = 10_000_000  # a booking's balance: room for every charge below


async def ask_link_charge(bookpay: Bookpay, customer: Customer, amount: int) -> str:
    response = await bookpay.charge.post(
        f"/v1/accounts/{customer.account_id}/charges",
        json={
            "customer_id": customer.customer_id,
            "booking_ids": customer.booking_ids,
            "amount": amount,
            "currency": "usd",
            "method": "payment_link",
        },
    )
    assert response.status_code == 202, response.text
    charge_id: str = response.json()["charge_id"]
    return charge_id


async def ask_card_on_file_charge(bookpay: Bookpay, customer: Customer, amount: int) -> str:
    response = await bookpay.charge_card_on_file(customer, amount)
    assert response.status_code == 202, response.text
    charge_id: str = response.json()["charge_id"]
    return charge_id


def at(item: Item) -> datetime:
    return datetime.fromisoformat(item["created_at"])


async def test_an_accounts_charges_are_paged_newest_first_with_filters_on_every_page(
    bookpay: Bookpay,
) -> None:
    account = await bookpay.new_account()
    kayaker = await bookpay.new_customer(account, [LARGE])
    # No saved card: a card-on-file charge for this customer fails (no_card_on_file).
    walker = await bookpay.new_customer(account, [LARGE])
    made: list[str] = []
    for n in range(62):
        customer = kayaker if n % 3 else walker
        made.append(await ask_link_charge(bookpay, customer, 100 + n))
    failed = [await ask_card_on_file_charge(bookpay, walker, 5000) for _ in range(3)]
    made += failed
    for charge_id in failed:
        await bookpay.wait_charge_done(walker, charge_id)
    url = f"/v1/accounts/{account}/charges"

    paged = await pages(bookpay.charge, url, "charges", limit=25)

    assert [len(page) for page in paged] == [25, 25, 15]
    everything = flat(paged)
    assert newest_first(everything, "charge_id")
    assert sorted(c["charge_id"] for c in everything) == sorted(made)
    assert [c["charge_id"] for c in everything[:3]] == failed[::-1]
    whole = (await bookpay.charge.get(url, params={"limit": 200})).json()
    assert whole["next_cursor"] is None
    assert [c["charge_id"] for c in whole["charges"]] == [c["charge_id"] for c in everything]
    first = everything[-1]
    assert first["customer_id"] == walker.customer_id
    assert first["booking_ids"] == walker.booking_ids
    assert (first["amount"], first["currency"], first["method"]) == (100, "usd", "payment_link")
    assert first["failure"] is None and first["updated_at"] >= first["created_at"]

    refused = flat(await pages(bookpay.charge, url, "charges", status="failed", limit=2))
    assert [c["charge_id"] for c in refused] == failed[::-1]
    for charge in refused:
        assert charge["status"] == "failed" and charge["method"] == "card_on_file"
        assert charge["failure"]["reason"] == "no_card_on_file", charge
        assert charge["failure"]["message"]
    several = flat(
        await pages(bookpay.charge, url, "charges", status=["failed", "succeeded"], limit=2)
    )
    assert several == refused
    by_method = flat(await pages(bookpay.charge, url, "charges", method="card_on_file", limit=2))
    assert [c["charge_id"] for c in by_method] == failed[::-1]

    walkers = [c for c in everything if c["customer_id"] == walker.customer_id]
    assert len(walkers) == 21 + 3
    by_filter = flat(
        await pages(bookpay.charge, url, "charges", customer_id=walker.customer_id, limit=5)
    )
    customer_url = f"/v1/accounts/{account}/customers/{walker.customer_id}/charges"
    by_route = await pages(bookpay.charge, customer_url, "charges", limit=5)
    assert [len(page) for page in by_route] == [5, 5, 5, 5, 4]
    assert by_filter == flat(by_route) == walkers
    walker_failed = flat(
        await pages(bookpay.charge, customer_url, "charges", status="failed", limit=2)
    )
    assert walker_failed == refused
    kayakers_url = f"/v1/accounts/{account}/customers/{kayaker.customer_id}/charges"
    assert not flat(await pages(bookpay.charge, kayakers_url, "charges", status="failed"))

    # created_from inclusive, created_to exclusive: charges 10 to 39 from the newest.
    created_from, created_to = everything[39]["created_at"], everything[9]["created_at"]
    in_range = flat(
        await pages(
            bookpay.charge,
            url,
            "charges",
            created_from=created_from,
            created_to=created_to,
            limit=7,
        )
    )
    assert in_range == [c for c in everything if at(everything[39]) <= at(c) < at(everything[9])]
    assert in_range == everything[10:40]
    walkers_in_range = flat(
        await pages(
            bookpay.charge,
            customer_url,
            "charges",
            created_from=created_from,
            created_to=created_to,
            limit=3,
        )
    )
    assert walkers_in_range == [c for c in in_range if c in walkers]

    await assert_refuses_made_up_cursors(bookpay.charge, url)
    await assert_refuses_made_up_cursors(bookpay.charge, customer_url, status="failed", limit=2)
    for bad in (
        {"status": "lost"},
        {"method": "cash"},
        {"customer_id": "ada"},
        {"created_from": "yesterday"},
        {"created_from": "2027-05-01T09:00:00"},  # no offset
        {"created_from": created_to, "created_to": created_from},
        {"limit": 0},
    ):
        answer = await bookpay.charge.get(url, params=bad)
        assert answer.status_code == 422, (bad, answer.text)


async def test_a_charge_asked_for_while_paging_neither_repeats_nor_skips_one(
    bookpay: Bookpay,
) -> None:
    account = await bookpay.new_account()
    customer = await bookpay.new_customer(account, [LARGE])
    made = [await ask_link_charge(bookpay, customer, 200) for _ in range(6)]
    url = f"/v1/accounts/{account}/charges"
    first = (await bookpay.charge.get(url, params={"limit": 4})).json()

    newer = await ask_link_charge(bookpay, customer, 300)
    rest = (
        await bookpay.charge.get(url, params={"limit": 4, "cursor": first["next_cursor"]})
    ).json()

    shown = [c["charge_id"] for c in first["charges"] + rest["charges"]]
    assert shown == made[::-1] and newer not in shown
    assert rest["next_cursor"] is None


async def test_the_charge_lists_need_the_accounts_credential_with_read(
    bookpay: Bookpay,
) -> None:
    account = await bookpay.new_account(connected=False)
    other = await bookpay.new_account(connected=False)
    customer_id = uuid.uuid4()
    urls = [
        f"/v1/accounts/{account}/charges",
        f"/v1/accounts/{account}/customers/{customer_id}/charges",
    ]
    others_key = bookpay.keys.keys[other]
    writes_only, reads_only = await asyncio.gather(
        bookpay.new_key(account, ["charges:write"]), bookpay.new_key(account, ["read"])
    )
    async with httpx.AsyncClient(base_url=str(bookpay.charge.base_url), timeout=15) as bare:
        for url in urls:
            assert (await bare.get(url)).status_code == 401
            assert (await bare.get(url, params={"cursor": "nope"})).status_code == 401
            answers: dict[str, Any] = {}
            for name, key in (
                ("other", others_key),
                ("writes", writes_only),
                ("reads", reads_only),
            ):
                answer = await bare.get(url, headers={"Authorization": f"Bearer {key}"})
                answers[name] = (answer.status_code, answer.json())
            assert answers["other"][0] == 404, answers
            assert answers["writes"][0] == 403, answers
            assert answers["reads"] == (200, {"charges": [], "next_cursor": None}), answers
