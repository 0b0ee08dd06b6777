"""Operators' login: password (rate-limited like every login), then a second factor.

With ``DJANGO_DEBUG`` false (production, and the demo's default) every operator needs an
authenticator app (TOTP, platform_core/totp.py): the password step does not log in, it leaves a
pending login in the session for five minutes; the next step asks for a code (or a recovery
code), or, for an operator without a confirmed authenticator, shows the enrolment page (a QR code
drawn on the server, the secret in text) and, once the first code checks out, ten recovery codes
shown this once and stored as hashes. With DEBUG on, operators who enrolled are still asked.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.views import LoginView
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from platform_core import totp
from platform_core.models import OperatorRecoveryCode, OperatorTOTP
from platform_core.ratelimit import client_address, hit, too_many

PENDING_KEY = "operator_login_pending"
VERIFIED_KEY = "operator_second_factor"
PENDING_SECONDS = 300
ISSUER = "Fenxiao"


def second_factor_required() -> bool:
    return bool(settings.OPERATOR_TWO_FACTOR_REQUIRED)


def confirmed_device(user: Any) -> OperatorTOTP | None:
    return OperatorTOTP.objects.filter(user=user, confirmed_at__isnull=False).first()


# --- the password step ------------------------------------------------------------------------
class OperatorLoginView(LoginView):
    """Django's admin login, whose success starts the second step instead of logging in
    (unless no second factor applies: DEBUG on and none enrolled)."""

    authentication_form = AdminAuthenticationForm
    template_name = "admin/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = hit("operator-login", client_address(request), settings.LOGIN_RATE_LIMIT)
        if wait is not None:
            return too_many(request, wait)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        device = confirmed_device(user)
        if device is None and not second_factor_required():
            return super().form_valid(form)
        # No session for this person yet: a new session key, the pending login in it.
        self.request.session.cycle_key()
        self.request.session[PENDING_KEY] = {
            "uid": user.pk,
            "at": time.time(),
            "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0]),
            "next": self.get_success_url(),
            "hash": user.get_session_auth_hash(),
        }
        step = "operator:login-verify" if device is not None else "operator:login-enrol"
        return HttpResponseRedirect(reverse(step))


def _pending_user(request: HttpRequest) -> tuple[Any, dict[str, Any]] | None:
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > PENDING_SECONDS:
        return None
    user = get_user_model().objects.filter(pk=pending.get("uid") or 0, is_active=True, is_staff=True).first()
    # a password changed since the password step ends the pending login
    if user is None or user.get_session_auth_hash() != pending.get("hash"):
        return None
    return user, pending


def _expired(request: HttpRequest) -> HttpResponse:
    request.session.pop(PENDING_KEY, None)
    messages.error(request, _("Your login timed out. Log in again."))
    return HttpResponseRedirect(reverse("operator:login"))


def _finish_login(request: HttpRequest, user: Any, pending: dict[str, Any]) -> str:
    auth_login(request, user, backend=pending.get("backend"))
    request.session[VERIFIED_KEY] = True
    request.session.pop(PENDING_KEY, None)
    target = str(pending.get("next") or "")
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    return target if allowed else reverse("operator:index")


def _limited(request: HttpRequest, user: Any) -> int | None:
    """Code guesses: per address (like logins) and per operator (5 a minute)."""
    wait = hit("operator-2fa", client_address(request), settings.LOGIN_RATE_LIMIT)
    per_user = hit("operator-2fa-user", str(user.pk), settings.OPERATOR_CODE_RATE_LIMIT)
    return wait or per_user


def check_code(user: Any, code: str) -> str | None:
    """Accept a current authenticator code or an unused recovery code of ``user``, once.
    Returns "totp" or "recovery", or None."""
    if totp.looks_like_recovery_code(code):
        used = OperatorRecoveryCode.objects.filter(
            user=user, code_hash=totp.hash_recovery_code(code), used_at__isnull=True
        ).update(used_at=timezone.now())
        return "recovery" if used == 1 else None
    device = confirmed_device(user)
    if device is None:
        return None
    step = totp.matching_step(device.secret, code, after_step=device.last_step)
    if step is None:
        return None
    # conditional: of two requests with the same code only one moves last_step
    moved = (
        OperatorTOTP.objects.filter(pk=device.pk)
        .filter(Q(last_step__isnull=True) | Q(last_step__lt=step))
        .update(last_step=step)
    )
    return "totp" if moved == 1 else None


def _context(request: HttpRequest, site: Any, **extra: Any) -> dict[str, Any]:
    return {**site.each_context(request), "title": _("Two-step verification"), **extra}


# --- the code step ---------------------------------------------------------------------------
def verify_view(request: HttpRequest, site: Any) -> HttpResponse:
    found = _pending_user(request)
    if found is None:
        return _expired(request)
    user, pending = found
    if confirmed_device(user) is None:
        return HttpResponseRedirect(reverse("operator:login-enrol"))
    error = ""
    if request.method == "POST":
        wait = _limited(request, user)
        if wait is not None:
            return too_many(request, wait)
        kind = check_code(user, request.POST.get("code", ""))
        if kind is not None:
            target = _finish_login(request, user, pending)
            if kind == "recovery":
                left = OperatorRecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
                messages.warning(
                    request,
                    _(
                        "You logged in with a recovery code; %(n)s are left. Make new ones on the two-step verification page."
                    )
                    % {"n": left},
                )
            return HttpResponseRedirect(target)
        error = _("That code is not right (or was already used). Enter the current code from your authenticator app.")
    return render(
        request,
        "platform_core/operator_verify.html",
        _context(request, site, error=error, email=user.email),
        status=400 if error else 200,
    )


# --- enrolment -------------------------------------------------------------------------------
def _qr_svg(uri: str) -> str:
    import segno

    svg = segno.make(uri, error="m").svg_inline(scale=5, title=_("Scan with your authenticator app"))
    return mark_safe(svg)  # noqa: S308 - drawn by segno from our own URI, no user markup


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _new_recovery_codes(user: Any) -> list[str]:
    codes = totp.new_recovery_codes()
    OperatorRecoveryCode.objects.filter(user=user).delete()
    OperatorRecoveryCode.objects.bulk_create(
        OperatorRecoveryCode(user=user, code_hash=totp.hash_recovery_code(code)) for code in codes
    )
    return codes


def enrol_view(request: HttpRequest, site: Any) -> HttpResponse:
    """During a pending login (no authenticator yet), or for a logged-in operator without one."""
    logged_in = bool(request.user.is_authenticated and site.has_permission(request))
    user: Any
    if logged_in:
        user, pending = request.user, None
    else:
        found = _pending_user(request)
        if found is None:
            return _expired(request)
        user, pending = found
    if confirmed_device(user) is not None:
        return HttpResponseRedirect(reverse("operator:two-factor" if logged_in else "operator:login-verify"))
    device, _created = OperatorTOTP.objects.get_or_create(user=user, defaults={"secret": totp.new_secret()})
    error = ""
    if request.method == "POST":
        wait = _limited(request, user)
        if wait is not None:
            return too_many(request, wait)
        step = totp.matching_step(device.secret, request.POST.get("code", ""))
        if step is not None:
            with transaction.atomic():
                confirmed = OperatorTOTP.objects.filter(pk=device.pk, confirmed_at__isnull=True).update(
                    confirmed_at=timezone.now(), last_step=step
                )
                codes = _new_recovery_codes(user) if confirmed == 1 else []
            if confirmed == 1:
                target = _finish_login(request, user, pending) if pending is not None else reverse("operator:index")
                if logged_in:
                    request.session[VERIFIED_KEY] = True
                return render(
                    request,
                    "platform_core/operator_recovery_codes.html",
                    _context(request, site, codes=codes, next=target, enrolled=True),
                )
        error = _("That code is not right. Enter the 6-digit code your authenticator app shows now.")
    uri = totp.provisioning_uri(device.secret, user.email, ISSUER)
    return render(
        request,
        "platform_core/operator_enrol.html",
        _context(
            request,
            site,
            error=error,
            qr=_qr_svg(uri),
            secret=_grouped(device.secret),
            uri=uri,
            email=user.email,
            logged_in=logged_in,
        ),
        status=400 if error else 200,
    )


# --- the logged-in page: status, new recovery codes --------------------------------------------
def two_factor_view(request: HttpRequest, site: Any) -> HttpResponse:
    user: Any = request.user
    device = confirmed_device(user)
    error = ""
    if request.method == "POST" and device is not None:
        wait = _limited(request, user)
        if wait is not None:
            return too_many(request, wait)
        code = request.POST.get("code", "")
        # only the app's code (a recovery code would be spent for nothing)
        if not totp.looks_like_recovery_code(code) and check_code(user, code) == "totp":
            with transaction.atomic():
                codes = _new_recovery_codes(user)
            return render(
                request,
                "platform_core/operator_recovery_codes.html",
                _context(request, site, codes=codes, next=reverse("operator:two-factor"), enrolled=False),
            )
        error = _("That code is not right. Enter the 6-digit code your authenticator app shows now.")
    left = OperatorRecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
    return render(
        request,
        "platform_core/operator_two_factor.html",
        _context(request, site, device=device, left=left, error=error, required=second_factor_required()),
        status=400 if error else 200,
    )
