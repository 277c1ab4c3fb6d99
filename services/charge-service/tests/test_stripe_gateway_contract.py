"""The gateway's real-Stripe requests, checked against Stripe's OpenAPI spec by stripe-mock.

localstripe cannot take several real-Stripe parameters (setup_future_usage, off_session on
confirm, description, allowed_payment_method_types), so the gateway leaves them out there. This
test runs the gateway as it runs against real Stripe (every switch on) against stripe-mock,
which refuses any request whose shape the spec does not allow. stripe-mock is stateless: the
test proves request shapes, not behaviour (see docs/testing.md).

stripe-mock is a Go module; it is built once into .cache/tools/go-bin with the machine's Go.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from bookpay_devstack.config import find_repo_root
from charge_service.adapters.stripe_gateway import StripeApiGateway

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Use .content=<...>. to upload raw bytes:DeprecationWarning"),
]

STRIPE_MOCK = "github.com/stripe/stripe-mock@v0.203.0"
ACCOUNT = "acct_1ContractCheck"


def _stripe_mock_binary() -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed: stripe-mock cannot be built")
    bin_dir = find_repo_root() / ".cache" / "tools" / "go-bin"
    binary = bin_dir / "stripe-mock"
    if not binary.exists():
        bin_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [go, "install", STRIPE_MOCK],
            env={**os.environ, "GOBIN": str(bin_dir), "GOFLAGS": "-mod=mod"},
            check=True,
            timeout=600,
            capture_output=True,
        )
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def stripe_mock_url() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [str(_stripe_mock_binary()), "-http-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/v1/customers", headers={"Authorization": "Bearer sk_test_123"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest_asyncio.fixture
async def gateway(stripe_mock_url: str) -> AsyncIterator[StripeApiGateway]:
    real = StripeApiGateway("sk_test_123", stripe_mock_url)  # every real-Stripe switch on
    yield real
    await real.aclose()


async def test_saving_a_card_uses_requests_stripe_accepts(gateway: StripeApiGateway) -> None:
    customer = await gateway.create_customer(
        stripe_account=ACCOUNT,
        email="ada@example.com",
        name="Ada Lovelace",
        metadata={"customer_id": "c-1"},
        idempotency_key="customer:c-1:acct",
    )
    card = await gateway.attach_payment_method(
        stripe_account=ACCOUNT, customer_id=customer, payment_method_id="pm_card_visa"
    )
    await gateway.set_default_payment_method(
        stripe_account=ACCOUNT, customer_id=customer, payment_method_id=card.payment_method_id
    )
    await gateway.detach_payment_method(
        stripe_account=ACCOUNT, payment_method_id=card.payment_method_id
    )
    assert customer.startswith("cus_") and card.last4


async def test_charging_uses_requests_stripe_accepts(gateway: StripeApiGateway) -> None:
    created = await gateway.create_payment_intent(
        stripe_account=ACCOUNT,
        amount=12500,
        currency="usd",
        customer_id="cus_123",
        metadata={"charge_id": "ch-1"},
        idempotency_key="charge:ch-1",
        description="bookpay charge ch-1",
    )
    off_session = await gateway.confirm_off_session(
        stripe_account=ACCOUNT,
        payment_intent_id=created.payment_intent_id,
        payment_method_id="pm_card_visa",
        idempotency_key="charge:ch-1:confirm:1",
    )
    saved_on_session = await gateway.confirm_on_session(
        stripe_account=ACCOUNT,
        payment_intent_id=created.payment_intent_id,
        payment_method_id="pm_card_visa",
        save_card=True,  # setup_future_usage=off_session, which localstripe refuses
        idempotency_key="charge:ch-1:confirm:2",
    )
    read = await gateway.retrieve_payment_intent(
        stripe_account=ACCOUNT, payment_intent_id=created.payment_intent_id
    )
    for result in (created, off_session, saved_on_session, read):
        assert result.payment_intent_id.startswith("pi_")


async def test_charging_off_session_in_one_request_uses_requests_stripe_accepts(
    gateway: StripeApiGateway,
) -> None:
    charged = await gateway.charge_off_session(
        stripe_account=ACCOUNT,
        amount=12500,
        currency="usd",
        customer_id="cus_123",
        payment_method_id="pm_card_visa",
        metadata={"charge_id": "ch-2"},
        idempotency_key="charge:ch-2",
        description="bookpay charge ch-2",
    )
    # stripe-mock's canned PaymentIntents carry no metadata: nothing matches, but the list
    # request (customer, created[gte], limit) must pass the spec.
    found = await gateway.find_payment_intent(
        stripe_account=ACCOUNT,
        customer_id="cus_123",
        created_since=1_700_000_000,
        metadata={"charge_id": "ch-2"},
    )
    assert charged.payment_intent_id.startswith("pi_")
    assert found is None


async def test_checking_a_connected_account_uses_requests_stripe_accepts(
    gateway: StripeApiGateway,
) -> None:
    account = await gateway.retrieve_connected_account(stripe_account_id=ACCOUNT)

    assert account.stripe_account_id == ACCOUNT


def test_stripe_mock_refuses_what_stripe_would(stripe_mock_url: str) -> None:
    """So that the tests above can fail: a parameter the spec lacks is refused."""
    response = httpx.post(
        f"{stripe_mock_url}/v1/payment_intents",
        data={"amount": "100", "currency": "usd", "no_such_parameter": "x"},
        headers={"Authorization": "Bearer sk_test_123"},
    )
    assert response.status_code == 400
