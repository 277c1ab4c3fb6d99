"""Stripe Connect in the local Stripe stand-in: connected accounts, and PaymentIntents kept on
the connected account they were made on.

localstripe has no accounts at all (`/v1/accounts` is a 404) and ignores the `Stripe-Account`
header: every connected account shares one store. That hides the two things verified Stripe
connections depend on, so the local stack adds them, as real Stripe behaves:

- `POST /v1/accounts` makes a connected account of the platform (`acct_…`; `type`, `country`
  and `email` are kept). It is onboarded at once: `charges_enabled` and `details_submitted` are
  true (real Stripe sets them once the account finishes onboarding).
- `GET /v1/accounts/{id}` answers for those accounts and for the platform's own account
  (`PLATFORM_ACCOUNT`, as real Stripe answers for the key's own account); any other id gets a
  403 `account_invalid`, as real Stripe answers for an account that does not exist or is not
  connected to the platform. `GET /v1/account` is the platform's own account.
- A PaymentIntent made with a `Stripe-Account` header belongs to that account: a request for it
  with another account's header gets a 404 `resource_missing`, and the list leaves it out.
  Requests without the header (the platform itself, the test Stripe.js stand-in) see every
  PaymentIntent, as before.
- Events about such a PaymentIntent carry the connected account in `account`, as Connect
  webhooks do.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiohttp import web

OWNER = "_bookpay_stripe_account"
"""The attribute that holds the connected account a PaymentIntent was made on (localstripe
exports no attribute whose name starts with `_`)."""

_ACCOUNT_KEY = "bookpay_connected_account:"
PLATFORM_ACCOUNT = "acct_bookpay_local_platform"
"""The platform's own Stripe account (the key's account) in the local stand-in."""
_INTENT_PATH = re.compile(r"^/v1/payment_intents/(pi_\w+)")
_request_account: ContextVar[str | None] = ContextVar("stripe_account", default=None)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def apply(app: web.Application, resources: Any, errors: Any) -> None:
    """Install the accounts API, the scoping middleware and the tagging of PaymentIntents and
    their events. Call before the app starts."""
    store = resources.store
    user_error = errors.UserError

    async def create_account(request: web.Request) -> web.Response:
        data = await _form(request)
        account_id = "acct_" + secrets.token_hex(8)
        account = {
            "id": account_id,
            "object": "account",
            "type": data.get("type", "standard"),
            "country": data.get("country", "US"),
            "email": data.get("email"),
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "created": int(time.time()),
            "livemode": False,
        }
        store[_ACCOUNT_KEY + account_id] = account
        return web.json_response(account)

    platform = {
        "id": PLATFORM_ACCOUNT,
        "object": "account",
        "type": "standard",
        "country": "US",
        "email": None,
        "charges_enabled": True,
        "payouts_enabled": True,
        "details_submitted": True,
        "created": int(time.time()),
        "livemode": False,
    }

    async def retrieve_platform(request: web.Request) -> web.Response:
        return web.json_response(platform)

    async def retrieve_account(request: web.Request) -> web.Response:
        account_id = request.match_info["id"]
        if account_id == PLATFORM_ACCOUNT:
            return web.json_response(platform)
        account = store.get(_ACCOUNT_KEY + account_id)
        if account is None:
            raise user_error(
                403,
                f"The provided key does not have access to account '{account_id}' (or that "
                "account does not exist). Application access may have been revoked.",
                {"code": "account_invalid"},
            )
        return web.json_response(account)

    @web.middleware
    async def scope_to_account(request: web.Request, handler: Handler) -> web.StreamResponse:
        account = request.headers.get("Stripe-Account")
        token = _request_account.set(account)
        try:
            match = _INTENT_PATH.match(request.path)
            if account and match:
                intent = store.get("payment_intent:" + match[1])
                if getattr(intent, OWNER, None) not in (None, account):
                    raise user_error(
                        404,
                        f"No such payment_intent: '{match[1]}'",
                        {"code": "resource_missing", "param": "intent"},
                    )
            return await handler(request)
        finally:
            _request_account.reset(token)

    intent_init = resources.PaymentIntent.__init__

    def tagged_intent_init(self: Any, *args: Any, **kwargs: Any) -> None:
        setattr(self, OWNER, _request_account.get())
        intent_init(self, *args, **kwargs)

    event_init = resources.Event.__init__

    def event_with_account(self: Any, type: str, data: Any) -> None:
        event_init(self, type, data)
        owner = getattr(data, OWNER, None)
        if owner is not None:
            self.account = owner

    def list_payment_intents(
        cls: Any,
        /,
        url: str,
        limit: Any = None,
        starting_after: Any = None,
        customer: Any = None,
        created: Any = None,
        **unexpected: Any,
    ) -> Any:
        """`GET /v1/payment_intents` as Stripe answers it: the caller's connected account's
        only, filtered by `customer` and `created[gte|gt|lte|lt]`, newest first, paged
        (localstripe refuses those filters and lists every PaymentIntent it holds)."""
        if unexpected:
            raise user_error(400, "Unexpected " + ", ".join(unexpected))
        account = _request_account.get()
        bounds = _created_bounds(created)
        found = [
            intent
            for key, intent in store.items()
            if key.startswith("payment_intent:")
            and (account is None or getattr(intent, OWNER, None) in (None, account))
            and (customer is None or intent.customer == customer)
            and all(check(intent.created) for check in bounds)
        ]
        found.sort(key=lambda intent: (intent.created, intent.id), reverse=True)
        listed = resources.List(url, limit=limit, starting_after=starting_after)
        listed._list = found
        return listed

    resources.PaymentIntent._api_list_all = classmethod(list_payment_intents)
    resources.PaymentIntent.__init__ = tagged_intent_init
    resources.Event.__init__ = event_with_account
    app.router.add_post("/v1/accounts", create_account)
    app.router.add_get("/v1/accounts/{id}", retrieve_account)
    app.router.add_get("/v1/account", retrieve_platform)
    app.middlewares.append(scope_to_account)


async def _form(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return body if isinstance(body, dict) else {}
    return dict(await request.post())


def _created_bounds(created: Any) -> list[Callable[[int], bool]]:
    """Stripe's `created` filter: a timestamp, or gte/gt/lte/lt bounds."""
    if created is None:
        return []
    if not isinstance(created, dict):
        return [_bound("eq", int(created))]
    return [_bound(name, int(value)) for name, value in created.items() if name in _OPERATORS]


_OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "eq": lambda t, b: t == b,
    "gte": lambda t, b: t >= b,
    "gt": lambda t, b: t > b,
    "lte": lambda t, b: t <= b,
    "lt": lambda t, b: t < b,
}


def _bound(name: str, bound: int) -> Callable[[int], bool]:
    operator = _OPERATORS[name]

    def check(created: int) -> bool:
        return operator(created, bound)

    return check
