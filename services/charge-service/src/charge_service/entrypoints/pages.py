"""The staff card-entry page: charge a new card, optionally saving it to the profile.

The page shows the customer, the bookings and the amount from our records and mounts Stripe.js
for the card: the card number goes from the browser to Stripe only; our server receives a
PaymentMethod id. The page then uses the JSON API (POST .../charges, and .../attempts for
another card after a decline). Like the API it needs a credential with `charges:write`: a browser
answers the 401's Basic challenge with the key as the user name, and sends it again with the
page's own calls to the API (same origin).
"""

from __future__ import annotations

import uuid
from html import escape
from importlib import resources
from urllib.parse import urlsplit

from bookpay_shared import projections
from bookpay_shared.auth import Scope, authorized
from bookpay_shared.csp import stripe_page_csp
from bookpay_shared.db import Pool
from bookpay_shared.http import NotFound, Unprocessable
from bookpay_shared.local_time import format_local
from bookpay_shared.money import format_amount
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
    rows = booking_rows(bookings, account.business.time_zone)
    if charge_amount <= 0 or charge_amount > balance:
        # A person reads this (after a payment, a reload lands here): say it as a page.
        if balance <= 0:
            heading, text = "Nothing left to charge", "These bookings are paid in full."
        else:
            heading = "More than is due"
            text = (
                f"{format_amount(charge_amount, currency)} is more than the balance due of "
                f"{format_amount(balance, currency)}."
            )
        html = _NOTICE.format(
            merchant=escape(account.name),
            customer=escape(customer.name),
            heading=escape(heading),
            text=escape(text),
            rows=rows,
            again=(
                f'<p><a href="?booking_ids={escape(",".join(map(str, ids)))}">'
                f"Charge the balance due of {escape(format_amount(balance, currency))}</a></p>"
                if balance > 0
                else ""
            ),
        )
        return HTMLResponse(
            html, status_code=409, headers=_security_headers(settings.stripe_js_url)
        )
    consent = CONSENT_TEXT.format(merchant=account.name)
    html = _PAGE.format(
        merchant=escape(account.name),
        zone=escape(account.business.time_zone),
        customer=escape(customer.name),
        email=escape(customer.email),
        rows=rows,
        total=escape(format_amount(charge_amount, currency)),
        consent=escape(consent),
        stripe_js=escape(settings.stripe_js_url),
        data=" ".join(
            f'data-{k}="{escape(str(v))}"'
            for k, v in {
                "account-id": account_id,
                "customer-id": customer_id,
                "booking-ids": ",".join(str(b.booking_id) for b in bookings),
                "amount": charge_amount,
                "currency": currency,
                "charge-id": uuid.uuid4(),
                "publishable-key": settings.stripe_publishable_key,
                "stripe-account": stripe_account or "",
                "consent": consent,
                "total": format_amount(charge_amount, currency),
            }.items()
        ),
        disabled="" if stripe_account else " disabled",
        notice=""
        if stripe_account
        else "<p class=error role=alert>This account has not connected Stripe yet.</p>",
    )
    return HTMLResponse(html, headers=_security_headers(settings.stripe_js_url))


def booking_rows(bookings: list[projections.KnownBooking], time_zone: str) -> str:
    """The bookings' table rows: title, start in the account's zone (the instant kept in
    `<time datetime>`), balance due."""
    return "".join(
        f"<tr><td>{escape(b.title)}</td>"
        f'<td><time datetime="{escape(b.starts_at.isoformat())}">'
        f"{escape(format_local(b.starts_at, time_zone))}</time></td>"
        f"<td class=num>{escape(format_amount(b.balance_due, b.currency))}</td></tr>"
        for b in bookings
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
    return {
        "Content-Security-Policy": stripe_page_csp((stripe_origin,), connect=api),
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Charge a new card — {merchant}</title>
<link rel="stylesheet" href="/static/page.css">
<script src="{stripe_js}"></script>
<script src="/static/new-card.js" defer></script>
</head>
<body>
<main>
<h1>Charge a new card</h1>
<p class=muted>{merchant} · times in {zone}</p>
<section aria-labelledby="customer-heading">
<h2 id="customer-heading">{customer}</h2>
<p class=muted>{email}</p>
<table>
<thead><tr><th scope=col>Booking</th><th scope=col>When</th><th scope=col class=num>Balance due</th></tr></thead>
<tbody>{rows}</tbody>
<tfoot><tr><th scope=row colspan=2>To charge</th><td class=num id="total">{total}</td></tr></tfoot>
</table>
</section>
{notice}
<form id="charge-form" {data}>
<fieldset class="card-fields">
<legend id="card-legend">Card</legend>
<div id="card-element" class="card-box" role="group" aria-labelledby="card-legend"></div>
</fieldset>
<p class=check><input type="checkbox" id="save-card" name="save_card">
<label for="save-card">Save this card for future use</label></p>
<p class=muted id="consent-text">{consent}</p>
<button type="submit" id="charge-button"{disabled}>Charge {total}</button>
<p id="outcome" role="status" aria-live="polite"></p>
</form>
</main>
</body>
</html>
"""


_NOTICE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading} — {merchant}</title>
<link rel="stylesheet" href="/static/page.css">
</head>
<body>
<main>
<h1>{heading}</h1>
<p class=muted>{merchant} · {customer}</p>
<p role="status">{text}</p>
<table>
<thead><tr><th scope=col>Booking</th><th scope=col>When</th><th scope=col class=num>Balance due</th></tr></thead>
<tbody>{rows}</tbody>
</table>
{again}
</main>
</body>
</html>
"""
