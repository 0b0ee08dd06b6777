"""Billing test harness: a localstripe server on loopback (the Stripe SDK pointed at it),
a sink that receives the webhooks localstripe signs and sends, and a recording HTTP
client for what localstripe does not serve (asserting the exact requests sent)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import stripe
from django.core.management import call_command

from platform_core import stripe_gateway as gateway

WEBHOOK_SECRET = "whsec_fenxiao_test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    binary = Path(sys.executable).with_name("localstripe")
    if not binary.exists() and not shutil.which("localstripe"):
        pytest.fail("localstripe is not installed (requirements/test.txt)")
    port = _free_port()
    process = subprocess.Popen(
        [str(binary if binary.exists() else "localstripe"), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("localstripe did not start")
    yield url
    process.terminate()
    process.wait(5)


class WebhookSink:
    """Receives what localstripe POSTs: the raw body and its Stripe-Signature header."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.lock:
                    sink.received.append((body, self.headers.get("Stripe-Signature", "")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for body, _sig in self.received]

    def wait_for(self, customer: str, *types: str, timeout: float = 15) -> list[tuple[bytes, str]]:
        """Wait until an event of each type about ``customer`` arrived; return those deliveries."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                mine = [
                    (body, sig)
                    for body, sig in self.received
                    if json.loads(body)["data"]["object"].get("customer") == customer
                ]
            seen = {json.loads(body)["type"] for body, _sig in mine}
            if all(t in seen for t in types):
                return [(b, s) for b, s in mine if json.loads(b)["type"] in types]
            time.sleep(0.2)
        raise AssertionError(f"webhooks {types} for {customer} did not arrive; got {sorted(seen)}")


@pytest.fixture(scope="session")
def webhook_sink(localstripe_url: str) -> Iterator[WebhookSink]:
    sink = WebhookSink()
    data = json.dumps({"url": sink.url, "secret": WEBHOOK_SECRET}).encode()
    request = urllib.request.Request(
        f"{localstripe_url}/_config/webhooks/fenxiao", data=data, headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=5).read()  # noqa: S310 - loopback localstripe
    yield sink
    sink.server.shutdown()


@pytest.fixture
def stripe_on(settings: Any, localstripe_url: str, webhook_sink: WebhookSink, django_db_blocker: Any) -> Iterator[None]:
    """Settings for Stripe billing against localstripe, with the plans created there."""
    settings.STRIPE_SECRET_KEY = "sk_test_fenxiao"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_fenxiao"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = localstripe_url
    settings.STRIPE_JS_URL = f"{localstripe_url}/js.stripe.com/v3/"
    gateway.set_http_client(None)
    call_command("billing_sync_plans", stdout=open(os.devnull, "w"))  # noqa: SIM115
    yield
    gateway.set_http_client(None)


def card(number: str = "4242424242424242") -> str:
    """What Stripe.js does in the browser: tokenise a card into a PaymentMethod."""
    method = gateway.v1().payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return str(method.id)


def confirm_setup(client_secret: str, payment_method: str) -> None:
    """Stripe.js's confirmCardSetup against the SetupIntent the card form created."""
    intent_id = client_secret.split("_secret_")[0]
    gateway.v1().setup_intents.confirm(intent_id, params={"payment_method": payment_method})


class RecordingHTTPClient(stripe.HTTPClient):
    """The Stripe SDK's HTTP boundary: records each request, answers from a script of
    (method, path prefix) → (status, body) in order."""

    name = "recording"

    def __init__(self, script: list[tuple[str, str, int, dict[str, Any]]]) -> None:
        super().__init__()
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None) -> Any:
        path = url.split("://", 1)[1].split("/", 1)[1]
        path = "/" + path
        params = parse_qs(post_data.decode() if isinstance(post_data, bytes) else (post_data or ""))
        self.requests.append(
            {
                "method": method.upper(),
                "path": path.split("?")[0],
                "params": {k: v[0] for k, v in params.items()},
                "headers": dict(headers or {}),
            }
        )
        for i, (m, prefix, status, body) in enumerate(self.script):
            if m == method.upper() and path.startswith(prefix):
                self.script.pop(i)
                return json.dumps(body), status, {"request-id": "req_test"}
        return (
            json.dumps({"error": {"type": "invalid_request_error", "message": f"unexpected {method} {path}"}}),
            400,
            {},
        )

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


@pytest.fixture
def stripe_boundary(settings: Any) -> Iterator[Any]:
    """Stripe configured, every request answered by a RecordingHTTPClient the test scripts."""
    settings.STRIPE_SECRET_KEY = "sk_test_boundary"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = "https://api.stripe.com"

    def install(script: list[tuple[str, str, int, dict[str, Any]]]) -> RecordingHTTPClient:
        client = RecordingHTTPClient(script)
        gateway.set_http_client(client)
        return client

    yield install
    gateway.set_http_client(None)
