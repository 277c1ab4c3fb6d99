"""`bookpay-devstack keys`: create, list and revoke an account's API keys, through
booking-service's HTTP API with the platform key.

    bookpay-devstack keys create --account ID --scopes read,charges:write [--description TEXT]
    bookpay-devstack keys list --account ID    (every key, newest first, page after page)
    bookpay-devstack keys revoke --account ID KEY_ID

The platform key and booking-service's address come from `BOOKPAY_PLATFORM_KEY` and
`BOOKPAY_BOOKING_URL` (or `--platform-key`, `--booking-url`); by default those of `make run`.
A new key is printed once: booking-service keeps only its hash.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import httpx
from bookpay_shared.auth import ACCOUNT_SCOPES
from bookpay_shared.pagination import MAX_LIMIT

from .config import StackConfig

DEFAULT_BOOKING_URL = "http://127.0.0.1:8001"


def add_parser(commands: Any) -> None:
    keys = commands.add_parser("keys", help="create, list and revoke an account's API keys")
    keys.add_argument("--booking-url", default=os.environ.get("BOOKPAY_BOOKING_URL"))
    keys.add_argument("--platform-key", default=os.environ.get("BOOKPAY_PLATFORM_KEY"))
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new key (printed once)")
    create.add_argument("--account", required=True)
    create.add_argument(
        "--scopes",
        default=",".join(sorted(ACCOUNT_SCOPES)),
        help=f"comma-separated, of {', '.join(sorted(ACCOUNT_SCOPES))} (default: all)",
    )
    create.add_argument("--description", default="")
    listing = actions.add_parser("list", help="the account's keys (without secrets)")
    listing.add_argument("--account", required=True)
    revoke = actions.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--account", required=True)
    revoke.add_argument("key_id")
    keys.set_defaults(handler=keys_command)


def request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """The method, path and body that carry out `args`."""
    base = f"/v1/accounts/{args.account}/api-keys"
    if args.action == "create":
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        return "POST", base, {"scopes": scopes, "description": args.description}
    if args.action == "revoke":
        return "DELETE", f"{base}/{args.key_id}", None
    return "GET", base, None


async def keys_command(args: argparse.Namespace) -> None:
    platform_key = args.platform_key or StackConfig().platform_key
    method, path, body = request(args)
    async with httpx.AsyncClient(
        base_url=args.booking_url or DEFAULT_BOOKING_URL,
        headers={"Authorization": f"Bearer {platform_key}"},
        timeout=15,
    ) as client:
        if args.action == "list":
            answer: dict[str, Any] = {"api_keys": await every_key(client, path)}
        else:
            answer = _json(await client.request(method, path, json=body))
    print(json.dumps(answer, indent=2))
    if args.action == "create":
        print("\nThe key above is shown this once; booking-service keeps only its hash.")


async def every_key(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    """The account's keys, newest first, page after page (following `next_cursor`)."""
    found: list[dict[str, Any]] = []
    params = {"limit": str(MAX_LIMIT)}
    while True:
        page = _json(await client.get(path, params=params))
        found += page["api_keys"]
        if page.get("next_cursor") is None:
            return found
        params["cursor"] = page["next_cursor"]


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.is_success:
        request = response.request
        raise SystemExit(
            f"{request.method} {request.url.path}: {response.status_code} {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body
