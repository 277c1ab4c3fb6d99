"""The staff card-entry page: charge a new card, optionally saving it to the profile.

The page shows the customer, the bookings and the amount from our records and mounts Stripe.js
for the card: the card number goes from the browser to Stripe only; our server receives a
PaymentMethod id. The page then uses the JSON API (POST .../charges, and .../attempts for
another card after a decline). Like the API it needs a credential with `charges:write`: a browser
answers the 401's Basic challenge with the key as the user name, and sends it again with the
page's own calls to the API (same origin). The HTML is the Jinja2 templates in templates/,
every value they insert escaped.
"""

from __future__ import annotations

import uuid
from importlib import resources
from urllib.parse import urlsplit

from bookpay_shared import projections
from bookpay_shared.auth import Scope, authorized
from bookpay_shared.csp import security_headers, stripe_page_csp
from bookpay_shared.db import Pool
from bookpay_shared.http import NotFound, Unprocessable
from bookpay_shared.local_time import format_local
from bookpay_shared.money import format_amount
from bookpay_shared.templating import Templates
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from charge_service.adapters import repository as repo
from charge_service.entrypoints.routes import get_pool
from charge_service.settings import ChargeSettings

router = APIRouter()

CONSENT_TEXT = (
    "I authorise {merchant} to save this card and charge it for my future bookings, "
    "as agreed with the customer."
)
_STATIC = resources.files("charge_service") / "static"
_STATIC_TYPES = {"new-card.js": "text/javascript", "page.css": "text/css"}
PAGES = Templates("charge_service", filters={"money": format_amount, "local_time": format_local})
"""The pages' templates (templates/), every value they insert escaped."""


def _settings(request: Request) -> ChargeSettings:
    settings: ChargeSettings = request.app.state.settings
    return settings


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str) -> Response:
    if name not in _STATIC_TYPES:
        raise NotFound("no such file")
    body = (_STATIC / name).read_bytes()
    return Response(body, media_type=_STATIC_TYPES[name], headers={"Cache-Control": "no-cache"})


@router.get(
    "/v1/accounts/{account_id}/customers/{customer_id}/charge/new-card",
    response_class=HTMLResponse,
    dependencies=[authorized(Scope.CHARGES_WRITE)],
)
async def new_card_page(
    request: Request,
    account_id: uuid.UUID,
    customer_id: uuid.UUID,
    booking_ids: str = Query(description="comma-separated booking ids"),
    amount: int | None = Query(
        default=None, gt=0, description="minor units; default: the balance due"
    ),
    pool: Pool = Depends(get_pool),
) -> HTMLResponse:
    settings = _settings(request)
    ids = _parse_ids(booking_ids)
    async with pool.acquire() as conn:
        account = await projections.get_account(conn, account_id)
        customer = await projections.get_customer(conn, account_id, customer_id)
        bookings = await projections.get_bookings(conn, account_id, ids)
        stripe_account = await repo.get_connection(conn, account_id)
    if account is None or customer is None:
        raise NotFound("unknown account or customer")
    if len(bookings) != len(ids) or any(b.customer_id != customer_id for b in bookings):
        raise Unprocessable("unknown booking(s) for this customer", code="charge_mismatch")
    currencies = {b.currency for b in bookings}
    if len(currencies) != 1:
        raise Unprocessable("the bookings must share one currency", code="charge_mismatch")
    currency = currencies.pop()
    balance = sum(b.balance_due for b in bookings)
    charge_amount = balance if amount is None else amount
    if charge_amount <= 0 or charge_amount > balance:
        # A person reads this (after a payment, a reload lands here): say it as a page.
        html = notice_page(account, customer, bookings, ids, charge_amount, balance, currency)
        return HTMLResponse(
            html, status_code=409, headers=_security_headers(settings.stripe_js_url)
        )
    html = card_entry_page(
        account,
        customer,
        bookings,
        amount=charge_amount,
        currency=currency,
        stripe_account=stripe_account,
        stripe_js_url=settings.stripe_js_url,
        publishable_key=settings.stripe_publishable_key,
    )
    return HTMLResponse(html, headers=_security_headers(settings.stripe_js_url))


def card_entry_page(
    account: projections.KnownAccount,
    customer: projections.KnownCustomer,
    bookings: list[projections.KnownBooking],
    *,
    amount: int,
    currency: str,
    stripe_account: str | None,
    stripe_js_url: str,
    publishable_key: str,
) -> str:
    """The page that charges `amount` to a card typed into Stripe.js's field (no Stripe
    connection: a page that says so, its button disabled). Each page is a new charge id."""
    return str(
        PAGES.render(
            "new_card.html",
            account=account,
            customer=customer,
            bookings=bookings,
            amount=amount,
            currency=currency,
            charge_id=uuid.uuid4(),
            stripe_account=stripe_account,
            stripe_js_url=stripe_js_url,
            publishable_key=publishable_key,
            consent=CONSENT_TEXT.format(merchant=account.name),
        )
    )


def notice_page(
    account: projections.KnownAccount,
    customer: projections.KnownCustomer,
    bookings: list[projections.KnownBooking],
    ids: list[uuid.UUID],
    amount: int,
    balance: int,
    currency: str,
) -> str:
    """Why `amount` cannot be charged (nothing or less is due), with a link to charge the
    balance due when one is left."""
    if balance <= 0:
        heading, text = "Nothing left to charge", "These bookings are paid in full."
    else:
        heading = "More than is due"
        text = (
            f"{format_amount(amount, currency)} is more than the balance due of "
            f"{format_amount(balance, currency)}."
        )
    return str(
        PAGES.render(
            "notice.html",
            account=account,
            customer=customer,
            bookings=bookings,
            ids=ids,
            heading=heading,
            text=text,
            balance=balance,
            currency=currency,
        )
    )


def _parse_ids(raw: str) -> list[uuid.UUID]:
    try:
        ids = [uuid.UUID(part) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise Unprocessable(
            "booking_ids must be comma-separated booking ids", code="invalid_request"
        ) from exc
    if not ids or len(ids) != len(set(ids)):
        raise Unprocessable("booking_ids must name each booking once", code="invalid_request")
    return ids


def _security_headers(stripe_js_url: str) -> dict[str, str]:
    parts = urlsplit(stripe_js_url)
    stripe_origin = f"{parts.scheme}://{parts.netloc}"
    api = ("https://api.stripe.com",) if parts.netloc == "js.stripe.com" else ()
    return security_headers(stripe_page_csp((stripe_origin,), connect=api), page=True)
