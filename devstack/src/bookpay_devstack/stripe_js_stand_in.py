"""The test Stripe.js stand-in and its test-support endpoints, served by the localstripe
wrapper under /bookpay-test/v3/ (see docs/testing.md).

localstripe's own Stripe.js stand-in cannot pay with a typed card: its `createPaymentMethod`
does nothing and its `confirmCardPayment` ignores the card. `stripe_js/stripe-test.js` offers
the real Stripe.js API to our pages and sends the typed card here; these endpoints then do, in
localstripe's process and with its own resource classes, what Stripe does when Stripe.js
confirms a PaymentIntent:

- `POST payment_methods` creates a card PaymentMethod (localstripe refuses publishable keys
  and tokens for that, so it cannot be done from the browser);
- `POST confirm` checks the client secret, creates the PaymentMethod, sets it on the
  PaymentIntent and confirms it;
- `POST authenticate` completes (or fails) the 3-D Secure step, as localstripe's own stand-in
  does with its `_authenticate` endpoint;
- `POST retrieve` returns the PaymentIntent of a client secret.

Real Stripe lets a PaymentIntent be confirmed again after a decline or an unfinished 3-D Secure
step; localstripe confirms only from `requires_confirmation`, so `confirm` starts a new attempt
the way Stripe does (the failed attempt is forgotten, where Stripe keeps it in its history).

Browsers call these endpoints only from loopback origins (our pages in the local stack).
Import this module only where localstripe runs (it loads localstripe's resources).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from localstripe.errors import UserError
from localstripe.resources import PaymentIntent, PaymentMethod, store

log = logging.getLogger(__name__)

PREFIX = "/bookpay-test/v3"
_SECRET = re.compile(r"^(pi_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_SETTLED = frozenset({"succeeded", "processing", "requires_capture", "canceled"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Refused(Exception):
    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error


def install(app: web.Application) -> None:
    """Add the stand-in's routes to localstripe's app (before it starts)."""
    app.router.add_get(PREFIX + "/", _script)
    app.router.add_post(PREFIX + "/payment_methods", _payment_methods)
    app.router.add_post(PREFIX + "/confirm", _confirm)
    app.router.add_post(PREFIX + "/authenticate", _authenticate)
    app.router.add_post(PREFIX + "/retrieve", _retrieve)
    app.router.add_route("OPTIONS", PREFIX + "/{tail:.*}", _preflight)
    # First, so that localstripe's API-key check (secret keys only) does not apply here.
    app.middlewares.insert(0, _stand_in_routes)


@web.middleware
async def _stand_in_routes(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(PREFIX + "/"):
        return await handler(request)
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).hostname not in _LOOPBACK:
        return web.json_response({"error": {"message": "origin not allowed"}}, status=403)
    route_handler: Handler = request.match_info.handler
    return await route_handler(request)


async def _script(_: web.Request) -> web.Response:
    text = (resources.files("bookpay_devstack") / "stripe_js" / "stripe-test.js").read_text()
    return web.Response(
        text=text, content_type="application/javascript", headers={"Cache-Control": "no-store"}
    )


async def _preflight(request: web.Request) -> web.Response:
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": request.headers.get("Origin", "*"),
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
        },
    )


def _api(call: Callable[[dict[str, Any]], dict[str, Any]]) -> Handler:
    """Parse the JSON body, check the publishable key, run `call`, save localstripe's store,
    answer `{...}` or `{error: {...}}` as Stripe's API would."""

    async def handle(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text() or "{}")
            if not isinstance(body, dict) or not str(body.get("key", "")).startswith("pk_"):
                raise _Refused(
                    401, {"type": "invalid_request_error", "message": "Invalid API Key provided."}
                )
            result = call(body)
        except UserError as exc:
            refused = _card_error(exc, None)
            return web.json_response({"error": refused.error}, status=refused.status)
        except _Refused as refused:
            return web.json_response({"error": refused.error}, status=refused.status)
        except ValueError:
            return web.json_response({"error": {"message": "invalid JSON"}}, status=400)
        finally:
            store.dump_to_disk()
        return web.json_response(result)

    return handle


def _intent(body: dict[str, Any]) -> Any:
    secret = str(body.get("client_secret", ""))
    match = _SECRET.match(secret)
    missing = {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "message": "No such payment_intent.",
    }
    if match is None:
        raise _Refused(404, missing)
    try:
        intent = PaymentIntent._api_retrieve(match.group(1))
    except UserError:
        raise _Refused(404, missing) from None
    if not hmac.compare_digest(intent.client_secret, secret):
        raise _Refused(404, missing)
    return intent


def _card_error(exc: Any, intent: Any | None) -> _Refused:
    """A localstripe UserError as Stripe.js reports it."""
    body = dict(exc.body.get("error", {}))
    if exc.code == 402:
        error = {
            "type": "card_error",
            "code": body.get("code") or "card_declined",
            "decline_code": "generic_decline",
            "message": body.get("message") or "Your card was declined.",
        }
    else:
        error = {
            "type": "invalid_request_error",
            "code": body.get("code"),
            "message": body.get("message") or "Invalid request.",
        }
    if intent is not None:
        error["payment_intent"] = intent._export()
    return _Refused(exc.code, error)


def _new_card(body: dict[str, Any]) -> Any:
    card = body.get("card") or {}
    try:
        return PaymentMethod._api_create(
            type="card",
            card={
                "number": str(card.get("number", "")),
                "exp_month": card.get("exp_month"),
                "exp_year": card.get("exp_year"),
                "cvc": str(card.get("cvc", "")),
            },
            billing_details=body.get("billing_details") or None,
        )
    except UserError:
        raise _Refused(
            402,
            {
                "type": "card_error",
                "code": "invalid_number",
                "message": "Your card number is invalid.",
            },
        ) from None


def _create_payment_method(body: dict[str, Any]) -> dict[str, Any]:
    return {"payment_method": _new_card(body)._export()}


def _new_attempt(intent: Any, payment_method_id: str) -> None:
    """Set the payment method for a new confirmation attempt, as real Stripe allows after a
    decline or an unfinished 3-D Secure step."""
    intent.next_action = None
    intent._authentication_failed = False
    if intent.latest_charge is not None and intent.latest_charge.status == "failed":
        intent.latest_charge = None
    PaymentIntent._api_update(intent.id, payment_method=payment_method_id)


def _confirm_intent(body: dict[str, Any]) -> dict[str, Any]:
    intent = _intent(body)
    if intent.status in _SETTLED:
        raise _Refused(
            400,
            {
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": (
                    f"This PaymentIntent's status is {intent.status}; it cannot be confirmed."
                ),
                "payment_intent": intent._export(),
            },
        )
    if body.get("card"):
        _new_attempt(intent, _new_card(body).id)
    elif isinstance(body.get("payment_method"), str):
        _new_attempt(intent, body["payment_method"])
    if intent.status == "requires_action":
        return {"payment_intent": intent._export()}
    try:
        PaymentIntent._api_confirm(intent.id)
    except UserError as exc:
        raise _card_error(exc, intent) from None
    return {"payment_intent": intent._export()}


def _authenticate_intent(body: dict[str, Any]) -> dict[str, Any]:
    intent = _intent(body)
    try:
        PaymentIntent._api_authenticate(
            intent.id, client_secret=intent.client_secret, success=bool(body.get("success"))
        )
    except UserError as exc:
        raise _card_error(exc, intent) from None
    if intent.status == "requires_payment_method":
        raise _Refused(
            402,
            {
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": (
                    "We are unable to authenticate your payment method. Please choose a "
                    "different payment method and try again."
                ),
                "payment_intent": intent._export(),
            },
        )
    return {"payment_intent": intent._export()}


def _retrieve_intent(body: dict[str, Any]) -> dict[str, Any]:
    return {"payment_intent": _intent(body)._export()}


_payment_methods = _api(_create_payment_method)
_confirm = _api(_confirm_intent)
_authenticate = _api(_authenticate_intent)
_retrieve = _api(_retrieve_intent)
