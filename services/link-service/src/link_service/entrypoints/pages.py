"""The hosted payment page: `GET /pay/{token}`, its POST that starts the payment, and
`GET /pay/{token}/success`. Thin: find the link, call one use case, render one view."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from bookpay_shared.text import Flag
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict

from link_service.domain.links import CLOSED_STATES, PENDING_INTENT_STATES, Link, LinkState
from link_service.domain.tokens import csrf_ok, csrf_token, new_csrf_cookie, valid_csrf_cookie
from link_service.entrypoints import views
from link_service.entrypoints.security import CSRF_COOKIE, CSRF_HEADER, same_origin
from link_service.usecases import payments
from link_service.usecases.links import Deps

router = APIRouter()


@dataclass(frozen=True)
class PageConfig:
    stripe_js: views.StripeJs
    csrf_secret: bytes
    public_origin: str
    secure_cookies: bool


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def get_config(request: Request) -> PageConfig:
    config: PageConfig = request.app.state.page_config
    return config


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    save_card: Flag = False


_NOT_PAYABLE = {
    "paid": (409, "This link has already been paid."),
    "expired": (409, views.CLOSED_TEXT),
    "cancelled": (409, views.CLOSED_TEXT),
    "not_connected": (409, "The merchant can't take card payments right now."),
    "paid_elsewhere": (409, views.paid_elsewhere_text("{merchant}")),
    "mismatch": (409, "This payment can't be taken online. Please contact the merchant."),
    "stripe_unavailable": (503, "Payments are unavailable for a moment. Please try again."),
}


def not_found() -> Response:
    """The same answer for every unknown or malformed token (a replaced one, on the payment
    page, gets the replaced-link page instead)."""
    return PlainTextResponse("Not found", status_code=404)


async def _find(deps: Deps, token: str) -> Link | None:
    return await payments.find_link(deps, token)


@router.get("/pay/{token}", response_class=HTMLResponse, include_in_schema=False)
async def payment_page(
    token: str,
    request: Request,
    deps: Deps = Depends(get_deps),
    config: PageConfig = Depends(get_config),
) -> Response:
    link = await _find(deps, token)
    if link is None:
        replaced = await payments.find_replaced_link(deps, token)
        if replaced is None:
            return not_found()
        return HTMLResponse(
            views.replaced_page(await payments.open_page(deps, replaced)), status_code=410
        )
    page = await payments.open_page(deps, link)
    if page.state is LinkState.PAID:
        return HTMLResponse(views.already_paid_page(page))
    if page.state in CLOSED_STATES:
        return HTMLResponse(views.closed_page(page), status_code=410)
    if page.intent_status in PENDING_INTENT_STATES:
        return HTMLResponse(views.pending_page(page))
    if page.paid_elsewhere:
        return HTMLResponse(views.paid_elsewhere_page(page))
    if not page.accepts_cards:
        return HTMLResponse(views.unavailable_page(page))
    cookie = request.cookies.get(CSRF_COOKIE)
    if not valid_csrf_cookie(cookie):
        cookie = new_csrf_cookie()
    assert cookie is not None
    html = views.payment_page(
        page,
        stripe_js=config.stripe_js,
        csrf=csrf_token(config.csrf_secret, link.link_id, cookie),
        payment_url=f"/pay/{token}/payment",
        success_url=f"/pay/{token}/success",
    )
    response = HTMLResponse(html)
    response.set_cookie(
        CSRF_COOKIE,
        cookie,
        max_age=24 * 3600,
        path="/pay/",
        httponly=True,
        samesite="lax",
        secure=config.secure_cookies,
    )
    return response


@router.post("/pay/{token}/payment", include_in_schema=False)
async def start_payment(
    token: str,
    body: PaymentIn,
    request: Request,
    deps: Deps = Depends(get_deps),
    config: PageConfig = Depends(get_config),
) -> Response:
    link = await _find(deps, token)
    if link is None:
        return not_found()
    sent = request.headers.get(CSRF_HEADER)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not same_origin(request, config.public_origin) or not csrf_ok(
        config.csrf_secret, link.link_id, cookie, sent
    ):
        return _error(403, "forbidden", "This page has expired. Please reload it and try again.")
    try:
        started = await payments.start_payment(deps, link.link_id, body.save_card)
    except payments.NotPayable as exc:
        status, message = _NOT_PAYABLE[exc.reason]
        message = message.replace("{merchant}", exc.merchant or "the business")
        return _error(status, exc.reason, message)
    return JSONResponse({"status": started.status, "client_secret": started.client_secret})


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@router.get("/pay/{token}/success", response_class=HTMLResponse, include_in_schema=False)
async def success_page(token: str, deps: Deps = Depends(get_deps)) -> Response:
    link = await _find(deps, token)
    if link is None:
        return not_found()
    page = await payments.open_page(deps, link)
    if page.state is LinkState.PAID:
        return HTMLResponse(views.success_page(page))
    if page.intent_status in PENDING_INTENT_STATES:
        return HTMLResponse(views.pending_page(page))
    if page.state in CLOSED_STATES:
        return HTMLResponse(views.closed_page(page), status_code=410)
    return RedirectResponse(f"/pay/{token}", status_code=303)


_ASSETS = {
    "pay.js": "text/javascript; charset=utf-8",
    "receipt.js": "text/javascript; charset=utf-8",
    "pay.css": "text/css; charset=utf-8",
}


@router.get("/assets/accent/{colour}.css", include_in_schema=False)
async def accent(colour: str) -> Response:
    """The business's brand colour as the payment pages' accent: a one-rule stylesheet."""
    if not re.fullmatch(r"[0-9a-f]{6}", colour):
        return not_found()
    return Response(
        views.accent_stylesheet(f"#{colour}"),
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/assets/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in _ASSETS:
        return not_found()
    content = (resources.files("link_service") / "assets" / name).read_bytes()
    return Response(
        content, media_type=_ASSETS[name], headers={"Cache-Control": "public, max-age=300"}
    )
