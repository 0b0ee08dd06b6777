"""Share links: a storefront GET with ``?ref=<invite code>`` (and ``&src=qr|poster``)
records a visit, gives the browser a long-lived device id cookie (so a guest's visit can
be resolved when they register or order), and binds a logged-in visitor at once when the
shop binds on first visit."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django_tenants.utils import get_public_schema_name

from distribution.receivers import DEVICE_COOKIE, device_of

log = logging.getLogger(__name__)
COOKIE_AGE = 2 * 365 * 24 * 3600
SKIP_PREFIXES = ("/console/", "/static/", "/media/", "/api/v1/console/")


def _token_member(request: HttpRequest) -> Any:
    """The member of an app client's ``Authorization: Bearer`` token, if valid."""
    from rest_framework.exceptions import AuthenticationFailed

    from shop.members.auth import MemberTokenAuthentication

    try:
        found = MemberTokenAuthentication().authenticate(request)  # type: ignore[arg-type]
    except AuthenticationFailed:
        return None
    return found[0] if found else None


class ReferralMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        code = request.GET.get("ref", "") if request.method == "GET" else ""
        tenant = getattr(request, "tenant", None)
        new_device = ""
        if (
            code
            and tenant is not None
            and tenant.schema_name != get_public_schema_name()
            and not request.path.startswith(SKIP_PREFIXES)
        ):
            device = device_of(request)
            if not device:
                device = new_device = uuid.uuid4().hex
            try:
                self._record(request, code, device)
            except Exception:  # noqa: BLE001 - a broken referral must never break the page
                log.exception("referral visit not recorded")
        response = self.get_response(request)
        if new_device:
            response.set_cookie(
                DEVICE_COOKIE,
                new_device,
                max_age=COOKIE_AGE,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response

    def _record(self, request: HttpRequest, code: str, device: str) -> None:
        from django.db import transaction

        from distribution.services import visit_record
        from shop.members.auth import current_member

        with transaction.atomic():
            visit_record(
                code[:12],
                device_id=device,
                member=current_member(request) or _token_member(request),
                source=request.GET.get("src", "link"),
                path=request.path,
            )
