"""A real fake Stripe: ``python -m fakestripe`` in a subprocess on a free port, reached over HTTP by the
real ``stripe`` library. Webhooks are signed by the fake and posted to the app through the test client
(or, in end-to-end tests, delivered by the fake itself to a live server)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone

API_KEY = "sk_test_spaces_fixture"
WEBHOOK_SECRET = "whsec_spaces_fixture"
WEBHOOK_PATH = "/payments/stripe/webhook/"
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def fake_stripe_server():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakestripe", "--host", "127.0.0.1", "--port", str(port), "--api-key", API_KEY],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            requests.get(f"{url}/_fake/health", timeout=1).raise_for_status()
            break
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"fakestripe did not start: {proc.stdout.read().decode()}") from None
            time.sleep(0.1)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


class FakeStripe:
    """Test-side handle on the fake: pay, expire, inspect and deliver events."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def _post(self, path: str, **data: Any) -> dict:
        response = self.http.post(self.url + path, data=data, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._post("/_fake/reset")
        self.auto_deliver(False)

    def auto_deliver(self, on: bool) -> None:
        self._post("/_fake/config", auto_deliver="true" if on else "false")

    def add_endpoint(self, url: str, secret: str = WEBHOOK_SECRET) -> dict:
        return self._post("/_fake/webhook_endpoints", url=url, secret=secret)

    def pay(self, session_id: str, outcome: str = "paid") -> dict:
        return self._post(f"/_fake/sessions/{session_id}/pay", outcome=outcome)

    def settle(self, session_id: str, succeed: bool = True) -> dict:
        return self._post(f"/_fake/sessions/{session_id}/async_payment/{'succeed' if succeed else 'fail'}")

    def expire(self, session_id: str) -> dict:
        return self._post(f"/_fake/sessions/{session_id}/expire")

    def advance_clock(self, seconds: int) -> dict:
        return self._post("/_fake/clock", advance=seconds)

    def events(self, type: str | None = None) -> list[dict]:
        params = {"type": type} if type else {}
        return self.http.get(self.url + "/_fake/events", params=params, timeout=10).json()["data"]

    def event(self, type: str, object_id: str | None = None) -> dict:
        """The latest event of ``type`` (about ``object_id`` when given)."""
        found = [e for e in self.events(type) if object_id in (None, e["data"]["object"]["id"])]
        assert found, f"no {type} event for {object_id}"
        return found[-1]

    def api(self, method: str, path: str, **data: Any) -> requests.Response:
        return self.http.request(
            method, self.url + path, data=data, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10
        )

    def signed(self, event: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[str, str]:
        data = {"secret": secret}
        if timestamp is not None:
            data["timestamp"] = str(timestamp)
        signed = self._post(f"/_fake/events/{event['id']}/sign", **data)
        return signed["payload"], signed["header"]

    def deliver(self, event: dict, client: Client | None = None, **sign: Any):
        """POST ``event`` to the app's webhook, signed as Stripe would sign it."""
        payload, header = self.signed(event, **sign)
        return (client or Client()).post(
            WEBHOOK_PATH, data=payload, content_type="application/json", headers={"Stripe-Signature": header}
        )


@pytest.fixture
def fake_stripe(fake_stripe_server, settings) -> FakeStripe:
    settings.STRIPE_SECRET_KEY = API_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake_stripe_server
    settings.SPACES_PLATFORM_FEE_PERCENT = 3
    fake = FakeStripe(fake_stripe_server)
    fake.reset()
    return fake


@pytest.fixture
def make_space(db):
    from payments.models import BoxOffice
    from rooms.models import Space

    def make(host, *, title: str = "Jazz night", price: int | None = 500, capacity: int = 10, **extra) -> Space:
        fields = {"scheduled_for": timezone.now() + timedelta(days=1), "is_ticketed": price is not None, **extra}
        space = Space.objects.create(host=host, title=title, **fields)
        if price is not None:
            BoxOffice.objects.create(space=space, price=price, currency="usd", capacity=capacity)
        return space

    return make


@pytest.fixture
def space(make_space, alice):
    """A scheduled ticketed Space hosted by alice: 5.00 USD, 10 seats."""
    return make_space(alice)


@pytest.fixture
def buyer_client(bob) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def press_buy(fake_stripe):
    def press(client: Client, space) -> str:
        """Press Buy; return the Checkout Session id the app redirected to."""
        response = client.post(f"/spaces/{space.pk}/tickets/buy/")
        assert response.status_code == 303, response.content[:500]
        assert response["Location"].startswith(fake_stripe.url + "/c/pay/cs_test_")
        return response["Location"].rsplit("/", 1)[-1]

    return press
