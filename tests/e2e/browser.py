"""A real browser for the payment page: Debian's Chromium driven by Playwright (never a
downloaded browser). Each test gets a fresh profile with its own client address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Route, async_playwright

from .links import client_address

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip("Debian's chromium is not installed: run devstack/install-system-deps.sh")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def customer_browser(
    browser: Browser, link_service_url: str
) -> AsyncIterator[BrowserContext]:
    """A new browser profile (no cookies) whose requests to link-service come from their own
    client address, so the /pay rate limit of one test never slows another."""
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    address = client_address()

    async def as_own_client(route: Route) -> None:
        await route.continue_(headers={**route.request.headers, "x-forwarded-for": address})

    await context.route(f"{link_service_url}/**", as_own_client)
    yield context
    await context.close()
