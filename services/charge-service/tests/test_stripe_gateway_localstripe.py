"""StripeApiGateway against localstripe, started here as a subprocess on a free port.

Cards are created the way a test stands in for Stripe.js: POST /v1/payment_methods with the
raw card fields and the secret key (localstripe cannot turn tokens into PaymentMethods).
"""

from __future__ import annotations

import hashlib
import hmac
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import stripe
from charge_service.adapters.stripe_gateway import StripeApiGateway
from charge_service.usecases.stripe_types import (
    IntentResult,
    StripeAccountNotConnected,
    StripeCardRejected,
    StripeRequestRejected,
    StripeUnavailable,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings(
        # stripe-python hands httpx the encoded body as `data=`
        "ignore:Use .content=<...>. to upload raw bytes:DeprecationWarning"
    ),
]

SECRET_KEY = "sk_test_localstripe"
ACCOUNT = "acct_1TestConnected"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    home: Path = tmp_path_factory.mktemp("localstripe")
    # The devstack's entry point binds 127.0.0.1 only and keeps the state in our own file
    # (localstripe's own one shares /tmp/localstripe.pickle with every other instance).
    command = [
        sys.executable, "-m", "bookpay_devstack.localstripe_server",
        "--host", "127.0.0.1", "--port", str(port), "--state", str(home / "state.pickle"),
    ]  # fmt: skip
    with (home / "localstripe.log").open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/v1/balance", auth=(SECRET_KEY, "")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("localstripe did not start within 30 s")


@pytest.fixture
async def gateway(localstripe_url: str) -> AsyncIterator[StripeApiGateway]:
    gateway = StripeApiGateway.for_localstripe(localstripe_url, SECRET_KEY)
    yield gateway
    await gateway.aclose()


@pytest.fixture
async def raw(localstripe_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to localstripe, for what a browser or Stripe itself would do."""
    async with httpx.AsyncClient(
        base_url=localstripe_url, auth=(SECRET_KEY, ""), headers={"Stripe-Account": ACCOUNT}
    ) as client:
        yield client


async def new_card(raw: httpx.AsyncClient, number: str) -> str:
    response = await raw.post(
        "/v1/payment_methods",
        data={
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
            "card[cvc]": "123",
        },
    )
    response.raise_for_status()
    payment_method_id: str = response.json()["id"]
    return payment_method_id


async def new_customer(gateway: StripeApiGateway, key: str) -> str:
    return await gateway.create_customer(
        stripe_account=ACCOUNT,
        email="ada@example.com",
        name="Ada Lovelace",
        metadata={"customer_id": key},
        idempotency_key=f"customer:{key}",
    )


async def saved_card(
    gateway: StripeApiGateway, raw: httpx.AsyncClient, number: str
) -> tuple[str, str]:
    customer_id = await new_customer(gateway, number)
    payment_method_id = await new_card(raw, number)
    await gateway.attach_payment_method(
        stripe_account=ACCOUNT, customer_id=customer_id, payment_method_id=payment_method_id
    )
    return customer_id, payment_method_id


async def new_intent(gateway: StripeApiGateway, customer_id: str, charge: str) -> str:
    created = await gateway.create_payment_intent(
        stripe_account=ACCOUNT,
        amount=4500,
        currency="usd",
        customer_id=customer_id,
        metadata={"charge_id": charge},
        idempotency_key=f"charge:{charge}",
        description=f"charge {charge}",
    )
    assert created.status == "requires_payment_method"
    assert created.client_secret
    return created.payment_intent_id


async def test_saves_a_card_on_a_customer(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id = await new_customer(gateway, "save")
    payment_method_id = await new_card(raw, "4242424242424242")

    card = await gateway.attach_payment_method(
        stripe_account=ACCOUNT, customer_id=customer_id, payment_method_id=payment_method_id
    )
    await gateway.set_default_payment_method(
        stripe_account=ACCOUNT, customer_id=customer_id, payment_method_id=payment_method_id
    )

    assert (card.payment_method_id, card.brand, card.last4) == (payment_method_id, "visa", "4242")
    assert (card.exp_month, card.exp_year) == (12, 2034)
    assert card.fingerprint
    customer = (await raw.get(f"/v1/customers/{customer_id}")).json()
    assert customer["invoice_settings"]["default_payment_method"] == payment_method_id


async def test_detaching_a_card_twice_is_fine(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    _, payment_method_id = await saved_card(gateway, raw, "4242424242424242")

    for _ in range(2):
        await gateway.detach_payment_method(
            stripe_account=ACCOUNT, payment_method_id=payment_method_id
        )

    assert (await raw.get(f"/v1/payment_methods/{payment_method_id}")).json()["customer"] is None


async def test_charges_a_saved_card_off_session(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id, payment_method_id = await saved_card(gateway, raw, "4242424242424242")
    intent_id = await new_intent(gateway, customer_id, "off-session-ok")

    result = await gateway.confirm_off_session(
        stripe_account=ACCOUNT,
        payment_intent_id=intent_id,
        payment_method_id=payment_method_id,
        idempotency_key="confirm:off-session-ok",
    )

    assert result.succeeded
    assert result.failure is None
    assert result.card is not None
    assert (result.card.brand, result.card.last4) == ("visa", "4242")


async def test_a_paid_intent_reads_back_as_paid_and_is_not_charged_again(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id, payment_method_id = await saved_card(gateway, raw, "4242424242424242")
    intent_id = await new_intent(gateway, customer_id, "paid")
    confirm = dict(
        stripe_account=ACCOUNT,
        payment_intent_id=intent_id,
        payment_method_id=payment_method_id,
        idempotency_key="confirm:paid",
    )
    await gateway.confirm_off_session(**confirm)

    again = await gateway.confirm_off_session(**confirm)  # a retry after a crash
    read = await gateway.retrieve_payment_intent(
        stripe_account=ACCOUNT, payment_intent_id=intent_id
    )

    assert again.succeeded
    assert read.status == "succeeded"
    assert read.card is not None and read.card.last4 == "4242"
    charges = (await raw.get("/v1/charges", params={"customer": customer_id})).json()["data"]
    assert len(charges) == 1


async def test_a_declined_card_is_a_failed_result(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id, payment_method_id = await saved_card(gateway, raw, "4000000000000341")
    intent_id = await new_intent(gateway, customer_id, "declined")

    result = await gateway.confirm_off_session(
        stripe_account=ACCOUNT,
        payment_intent_id=intent_id,
        payment_method_id=payment_method_id,
        idempotency_key="confirm:declined",
    )
    read = await gateway.retrieve_payment_intent(
        stripe_account=ACCOUNT, payment_intent_id=intent_id
    )

    assert result.status == "requires_payment_method"
    assert result.failure is not None
    assert result.failure.reason == "card_declined"
    assert result.failure.message == "Your card was declined."
    assert result.failure.decline_code is None  # localstripe sends none; Stripe sends one
    assert not result.failure.retryable
    assert read.failure is not None and read.failure.reason == "card_declined"


async def test_a_card_needing_authentication_fails_off_session(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id, payment_method_id = await saved_card(gateway, raw, "4000002760003184")
    intent_id = await new_intent(gateway, customer_id, "3ds-off")

    result = await gateway.confirm_off_session(
        stripe_account=ACCOUNT,
        payment_intent_id=intent_id,
        payment_method_id=payment_method_id,
        idempotency_key="confirm:3ds-off",
    )

    assert result.failure is not None
    assert result.failure.reason == "authentication_required"
    assert not result.succeeded


async def charge_off_session(
    gateway: StripeApiGateway, customer_id: str, payment_method_id: str, charge: str
) -> IntentResult:
    return await gateway.charge_off_session(
        stripe_account=ACCOUNT,
        amount=4500,
        currency="usd",
        customer_id=customer_id,
        payment_method_id=payment_method_id,
        metadata={"charge_id": charge},
        idempotency_key=f"charge:{charge}",
        description=f"charge {charge}",
    )


async def test_charges_a_saved_card_off_session_in_one_request(
    localstripe_url: str, raw: httpx.AsyncClient
) -> None:
    recorder = RecordingClient()
    gateway = StripeApiGateway.for_localstripe(localstripe_url, SECRET_KEY, http_client=recorder)
    try:
        customer_id, payment_method_id = await saved_card(gateway, raw, "4242424242424242")
        before = len(recorder.sent)
        result = await charge_off_session(gateway, customer_id, payment_method_id, "one-request")
    finally:
        await gateway.aclose()

    assert len(recorder.sent) - before == 1
    assert recorder.sent[-1]["idempotency-key"] == "charge:one-request"
    assert result.succeeded and result.failure is None
    assert result.payment_intent_id.startswith("pi_")
    assert result.card is not None
    assert (result.card.payment_method_id, result.card.brand, result.card.last4) == (
        payment_method_id,
        "visa",
        "4242",
    )
    assert (result.card.exp_month, result.card.exp_year) == (12, 2034)
    assert result.card.fingerprint
    assert result.metadata["charge_id"] == "one-request"


async def test_a_card_declined_off_session_names_its_payment_intent(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id, payment_method_id = await saved_card(gateway, raw, "4000000000000341")

    result = await charge_off_session(gateway, customer_id, payment_method_id, "one-declined")
    read = await gateway.retrieve_payment_intent(
        stripe_account=ACCOUNT, payment_intent_id=result.payment_intent_id
    )

    # localstripe's 402 names no PaymentIntent: the gateway found it by its metadata.
    assert result.status == "requires_payment_method"
    assert result.failure is not None and result.failure.reason == "card_declined"
    assert read.metadata["charge_id"] == "one-declined"
    assert read.failure is not None and read.failure.reason == "card_declined"


async def test_a_card_needing_authentication_fails_off_session_in_one_request(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id, payment_method_id = await saved_card(gateway, raw, "4000002760003184")

    result = await charge_off_session(gateway, customer_id, payment_method_id, "one-3ds")

    assert result.payment_intent_id.startswith("pi_")
    assert result.failure is not None
    assert result.failure.reason == "authentication_required"
    assert not result.succeeded


async def test_finds_the_payment_intent_made_for_a_charge(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id, payment_method_id = await saved_card(gateway, raw, "4242424242424242")
    other_customer, other_card = await saved_card(gateway, raw, "4242424242424242")
    await charge_off_session(gateway, other_customer, other_card, "find-me")  # not this customer
    paid = await charge_off_session(gateway, customer_id, payment_method_id, "find-me")
    since = int(time.time()) - 300

    found = await gateway.find_payment_intent(
        stripe_account=ACCOUNT,
        customer_id=customer_id,
        created_since=since,
        metadata={"charge_id": "find-me"},
    )
    missing = await gateway.find_payment_intent(
        stripe_account=ACCOUNT,
        customer_id=customer_id,
        created_since=since,
        metadata={"charge_id": "never-made"},
    )

    assert found is not None and found.payment_intent_id == paid.payment_intent_id
    assert found.succeeded and found.card is not None and found.card.last4 == "4242"
    assert missing is None


async def test_the_stand_in_lists_a_customers_payment_intents_as_stripe_does(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    """Filtered by customer and creation time, newest first, paged: without the filters a
    resumed charge's search read every PaymentIntent the stand-in held."""
    customer_id, card = await saved_card(gateway, raw, "4242424242424242")
    other_customer, other_card = await saved_card(gateway, raw, "4242424242424242")
    await charge_off_session(gateway, other_customer, other_card, "theirs")
    first = await charge_off_session(gateway, customer_id, card, "first")
    second = await charge_off_session(gateway, customer_id, card, "second")

    listed = await raw.get("/v1/payment_intents", params={"customer": customer_id})
    assert listed.status_code == 200, listed.text
    ids = [i["id"] for i in listed.json()["data"]]
    assert sorted(ids) == sorted([first.payment_intent_id, second.payment_intent_id])
    page = (
        await raw.get("/v1/payment_intents", params={"customer": customer_id, "limit": 1})
    ).json()
    assert page["has_more"] and len(page["data"]) == 1
    rest = await raw.get(
        "/v1/payment_intents",
        params={"customer": customer_id, "limit": 1, "starting_after": page["data"][0]["id"]},
    )
    assert [i["id"] for i in rest.json()["data"]] == [x for x in ids if x != page["data"][0]["id"]]
    future = int(time.time()) + 3600
    later = await raw.get(
        "/v1/payment_intents", params={"customer": customer_id, "created[gte]": future}
    )
    assert later.json()["data"] == []
    elsewhere = await raw.get(
        "/v1/payment_intents",
        params={"customer": customer_id},
        headers={"Stripe-Account": "acct_1SomeoneElse"},
    )
    assert elsewhere.json()["data"] == []


async def test_a_new_card_paid_on_session_is_saved(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id = await new_customer(gateway, "on-session")
    payment_method_id = await new_card(raw, "4242424242424242")
    intent_id = await new_intent(gateway, customer_id, "on-session")

    result = await gateway.confirm_on_session(
        stripe_account=ACCOUNT,
        payment_intent_id=intent_id,
        payment_method_id=payment_method_id,
        save_card=True,
        idempotency_key="confirm:on-session",
    )

    assert result.succeeded
    saved = await raw.get("/v1/payment_methods", params={"customer": customer_id, "type": "card"})
    assert [pm["id"] for pm in saved.json()["data"]] == [payment_method_id]


async def test_on_session_authentication_is_left_to_the_browser(
    gateway: StripeApiGateway, raw: httpx.AsyncClient, localstripe_url: str
) -> None:
    customer_id = await new_customer(gateway, "3ds-on")
    payment_method_id = await new_card(raw, "4000002760003184")
    intent_id = await new_intent(gateway, customer_id, "3ds-on")

    waiting = await gateway.confirm_on_session(
        stripe_account=ACCOUNT,
        payment_intent_id=intent_id,
        payment_method_id=payment_method_id,
        save_card=False,
        idempotency_key="confirm:3ds-on",
    )
    assert waiting.status == "requires_action"
    assert waiting.failure is None
    assert waiting.client_secret
    async with httpx.AsyncClient(base_url=localstripe_url) as browser:  # the 3-D Secure step
        authenticated = await browser.post(
            f"/v1/payment_intents/{intent_id}/_authenticate",
            data={"key": "pk_test_x", "client_secret": waiting.client_secret, "success": "true"},
        )
        authenticated.raise_for_status()

    read = await gateway.retrieve_payment_intent(
        stripe_account=ACCOUNT, payment_intent_id=intent_id
    )
    assert read.succeeded


async def test_a_card_declined_while_saving_raises(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id = await new_customer(gateway, "decline-attach")
    payment_method_id = await new_card(raw, "4000000000000002")

    with pytest.raises(StripeCardRejected) as declined:
        await gateway.attach_payment_method(
            stripe_account=ACCOUNT, customer_id=customer_id, payment_method_id=payment_method_id
        )

    assert declined.value.failure.reason == "card_declined"


async def test_an_unknown_payment_method_is_rejected(gateway: StripeApiGateway) -> None:
    customer_id = await new_customer(gateway, "unknown-pm")

    with pytest.raises(StripeRequestRejected):
        await gateway.attach_payment_method(
            stripe_account=ACCOUNT, customer_id=customer_id, payment_method_id="pm_doesnotexist"
        )


async def test_a_bad_api_key_is_rejected(localstripe_url: str) -> None:
    gateway = StripeApiGateway.for_localstripe(localstripe_url, "not_a_secret_key")
    try:
        with pytest.raises(StripeRequestRejected):
            await new_customer(gateway, "bad-key")
    finally:
        await gateway.aclose()


async def test_an_unreachable_stripe_is_unavailable() -> None:
    gateway = StripeApiGateway.for_localstripe(f"http://127.0.0.1:{_free_port()}", SECRET_KEY)
    try:
        with pytest.raises(StripeUnavailable):
            await new_customer(gateway, "unreachable")
    finally:
        await gateway.aclose()


class RecordingClient(stripe.HTTPXClient):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, str]] = []

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: object = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        self.sent.append({key.lower(): value for key, value in headers.items()})
        return await super().request_async(method, url, headers, post_data)


async def test_every_call_names_the_connected_account(
    localstripe_url: str, raw: httpx.AsyncClient
) -> None:
    recorder = RecordingClient()
    gateway = StripeApiGateway.for_localstripe(localstripe_url, SECRET_KEY, http_client=recorder)
    try:
        customer_id = await new_customer(gateway, "header")
        payment_method_id = await new_card(raw, "4242424242424242")
        intent_id = await new_intent(gateway, customer_id, "header")
        await gateway.confirm_on_session(
            stripe_account=ACCOUNT,
            payment_intent_id=intent_id,
            payment_method_id=payment_method_id,
            save_card=False,
            idempotency_key="confirm:header",
        )
    finally:
        await gateway.aclose()

    assert len(recorder.sent) >= 4
    assert all(headers.get("stripe-account") == ACCOUNT for headers in recorder.sent)
    assert recorder.sent[0]["idempotency-key"] == "customer:header"
    assert recorder.sent[0]["stripe-version"] == "2026-10-28.endive"


class _WebhookSink(BaseHTTPRequestHandler):
    received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.put((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def webhook_sink() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WebhookSink)
    _WebhookSink.received = queue.Queue()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/stripe/webhooks", _WebhookSink.received
    server.shutdown()
    server.server_close()


async def test_sends_signed_payment_intent_webhooks(
    gateway: StripeApiGateway,
    raw: httpx.AsyncClient,
    localstripe_url: str,
    webhook_sink: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = webhook_sink
    secret = "whsec_test_localstripe"
    configured = await raw.post(
        f"{localstripe_url}/_config/webhooks/gateway-test",
        data={"url": url, "secret": secret, "events[]": ["payment_intent.succeeded"]},
    )
    configured.raise_for_status()
    customer_id, payment_method_id = await saved_card(gateway, raw, "4242424242424242")
    intent_id = await new_intent(gateway, customer_id, "webhook")
    await gateway.confirm_off_session(
        stripe_account=ACCOUNT,
        payment_intent_id=intent_id,
        payment_method_id=payment_method_id,
        idempotency_key="confirm:webhook",
    )

    # localstripe sends each event 1 s after it happens, to the webhooks known by then: events
    # of earlier tests may come first.
    while True:
        headers, body = received.get(timeout=10)
        event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret)
        if event.data.object["id"] == intent_id:
            break

    assert event.type == "payment_intent.succeeded"
    assert event.data.object["metadata"]["charge_id"] == "webhook"
    timestamp, signature = (
        part.split("=", 1)[1] for part in headers["Stripe-Signature"].split(",")
    )
    signed = f"{timestamp}.".encode() + body
    assert signature == hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert event["account"] == ACCOUNT  # a Connect event names the connected account


# --- Stripe Connect (added to localstripe by the local stack: localstripe_connect.py) -------


async def new_connected_account(localstripe_url: str) -> str:
    """What a platform does before onboarding an account: POST /v1/accounts, its own key only."""
    async with httpx.AsyncClient(base_url=localstripe_url, auth=(SECRET_KEY, "")) as platform:
        created = await platform.post("/v1/accounts", data={"type": "standard"})
    created.raise_for_status()
    account_id: str = created.json()["id"]
    return account_id


async def test_reads_an_account_connected_to_the_platform(
    gateway: StripeApiGateway, localstripe_url: str
) -> None:
    account_id = await new_connected_account(localstripe_url)

    account = await gateway.retrieve_connected_account(stripe_account_id=account_id)

    assert account.stripe_account_id == account_id
    assert account.charges_enabled and account.details_submitted


async def test_an_account_not_connected_to_the_platform_is_refused(
    gateway: StripeApiGateway,
) -> None:
    with pytest.raises(StripeAccountNotConnected):
        await gateway.retrieve_connected_account(stripe_account_id="acct_1NotOurs")


async def test_a_payment_intent_is_found_only_on_its_connected_account(
    gateway: StripeApiGateway, raw: httpx.AsyncClient
) -> None:
    customer_id = await new_customer(gateway, "scoped")
    intent_id = await new_intent(gateway, customer_id, "scoped")

    on_its_account = await gateway.retrieve_payment_intent(
        stripe_account=ACCOUNT, payment_intent_id=intent_id
    )
    with pytest.raises(StripeRequestRejected):
        await gateway.retrieve_payment_intent(
            stripe_account="acct_1AnotherAccount", payment_intent_id=intent_id
        )
    found_elsewhere = await gateway.find_payment_intent(
        stripe_account="acct_1AnotherAccount",
        customer_id=customer_id,
        created_since=None,
        metadata={"charge_id": "scoped"},
    )

    assert on_its_account.payment_intent_id == intent_id
    assert found_elsewhere is None
