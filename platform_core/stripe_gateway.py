"""The one place that talks to Stripe (platform billing and shop payments alike). Tests point it at localstripe (``STRIPE_API_BASE``)
or swap the SDK's HTTP client (``set_http_client``) to assert the exact requests sent."""

from __future__ import annotations

import time
from typing import Any

import stripe
from django.conf import settings

_http_client: Any = None
_client: stripe.StripeClient | None = None
_client_key: tuple[str, str, int] | None = None


def stripe_enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def set_http_client(http_client: Any) -> None:
    """Use another SDK HTTP client (tests); None restores the default."""
    global _http_client, _client
    _http_client = http_client
    _client = None


def client() -> stripe.StripeClient:
    global _client, _client_key
    key = (settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, id(_http_client))
    if _client is None or _client_key != key:
        _client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=2,
            http_client=_http_client,
        )
        _client_key = key
    return _client


def v1() -> Any:
    return client().v1


# Stripe signs the time it sent an event; the SDK refuses one older than this, and accepts
# any in the future. We refuse both beyond it (a replayed or pre-dated signature).
WEBHOOK_TOLERANCE_SECONDS = 300


def construct_event(payload: bytes, signature: str, secret: str | None = None) -> Any:
    """Verify the signature against the raw body and its timestamp (at most
    WEBHOOK_TOLERANCE_SECONDS away, past or future); raises ValueError or
    SignatureVerificationError."""
    header = signature or ""
    stamps = [part[2:] for part in header.split(",") if part.strip().startswith("t=")]
    try:
        stamp = int(stamps[0].strip()) if stamps else None
    except ValueError:
        stamp = None
    if stamp is not None and stamp > time.time() + WEBHOOK_TOLERANCE_SECONDS:
        raise stripe.SignatureVerificationError("Timestamp is in the future", header, payload)
    return stripe.Webhook.construct_event(
        payload,
        signature,
        settings.STRIPE_WEBHOOK_SECRET if secret is None else secret,
        tolerance=WEBHOOK_TOLERANCE_SECONDS,
    )


StripeError = stripe.StripeError
SignatureVerificationError = stripe.SignatureVerificationError
CardError = stripe.CardError
InvalidRequestError = stripe.InvalidRequestError

# Celery options of tasks that call Stripe: retried with backoff on Stripe errors, acked
# only after they ran (they are idempotent).
RETRYING_TASK: dict[str, Any] = {
    "acks_late": True,
    "ignore_result": True,
    "autoretry_for": (stripe.StripeError,),
    "retry_backoff": True,
    # a countdown longer than the broker's visibility timeout would be delivered twice
    "retry_backoff_max": 30,
    "max_retries": 8,
}
