"""Operators with an authenticator, for tests that log in through the operator console's
pages (platform_core/operator_auth.py: a second factor whenever DEBUG is off)."""

from __future__ import annotations

from typing import Any

from platform_core import totp

# a fixed authenticator secret, so a test (or a browser journey) can compute its codes
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol(user: Any, secret: str = SECRET) -> None:
    """Give ``user`` (an operator, public schema) a confirmed authenticator."""
    from django.utils import timezone

    from platform_core.models import OperatorTOTP

    OperatorTOTP.objects.update_or_create(
        user=user, defaults={"secret": secret, "confirmed_at": timezone.now(), "last_step": None}
    )


def code(secret: str = SECRET, *, offset_steps: int = 0) -> str:
    return totp.hotp(secret, totp.step_at() + offset_steps)


def log_in(client: Any, email: str, password: str, secret: str = SECRET, next_url: str = "/operator/") -> Any:
    """Both steps through the pages; returns the code step's answer."""
    first = client.post(f"/operator/login/?next={next_url}", {"username": email, "password": password})
    assert first.status_code == 302 and first["Location"] == "/operator/login/verify/", first
    return client.post("/operator/login/verify/", {"code": code(secret)})


def sign_in(client: Any, user: Any) -> Any:
    """``client.force_login(user)`` for an operator: also marks the session as having passed
    the second step (the console refuses operator sessions without it whenever DEBUG is off)."""
    from platform_core.operator_auth import VERIFIED_KEY

    client.force_login(user)
    session = client.session
    session[VERIFIED_KEY] = True
    session.save()
    return client
