"""Signup (platform host: web page and JSON API) and the hand-over to the shop host."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from platform_core.features import TIER_CHOICES
from platform_core.ratelimit import rate_limit
from platform_core.scoping import ShopScopedMixin
from tenants.schemas import TemplateOutdated
from tenants.services import (
    SignupResult,
    handoff_peek,
    handoff_token,
    handoff_user,
    platform_origins,
    shop_signup,
    shop_url,
    signup_repeated,
)
from tenants.validation import clean_signup

UPGRADING_MESSAGE = gettext_lazy(
    "Shop creation is paused for a minute while the platform upgrades. Please try again shortly."
)


def _run_signup(data: dict[str, Any]) -> tuple[SignupResult | None, dict[str, list[dict[str, str]]]]:
    cleaned, errors = clean_signup(data)
    if errors:
        return _repeated(data, errors)
    try:
        return shop_signup(**cleaned), {}
    except TemplateOutdated:
        return None, {"non_field_errors": [{"code": "upgrading", "message": str(UPGRADING_MESSAGE)}]}
    except ValidationError as exc:
        errors = {
            field: [{"code": e.code or "invalid", "message": str(e.message)} for e in errs]
            for field, errs in exc.error_dict.items()
        }
        return _repeated(data, errors)


def _repeated(
    data: dict[str, Any], errors: dict[str, list[dict[str, str]]]
) -> tuple[SignupResult | None, dict[str, list[dict[str, str]]]]:
    """When the only complaint is that the address (and email) are taken, this may be the
    same signup submitted a second time, e.g. a double click whose first request opened the
    shop: then it is answered as the first was, never with "already taken"."""
    taken_only = all(e["code"] == "taken" for errs in errors.values() for e in errs)
    fields = {k: str(data.get(k) or "") for k in ("name", "slug", "email", "password", "tier")}
    if "slug" in errors and taken_only and set(errors) <= {"slug", "email"} and fields["password"]:
        result = signup_repeated(**fields)
        if result is not None:
            return result, {}
    return None, errors


def _server_timing(response: HttpResponse | Response, result: SignupResult, started: float) -> None:
    """Where the signup's time went, for the browser's developer tools and
    bench/signup_browser.py: the password hash, the signup transaction, the whole view."""
    total = (time.perf_counter() - started) * 1000
    response["Server-Timing"] = (
        f"hash;dur={result.hash_seconds * 1000:.1f}, txn;dur={result.seconds * 1000:.1f}, view;dur={total:.1f}"
    )


def _result_payload(result: SignupResult) -> dict[str, Any]:
    tenant = result.tenant
    token = handoff_token(tenant, result.owner)
    return {
        "shop": {
            "name": tenant.name,
            "slug": tenant.slug,
            "tier": tenant.tier,
            "status": tenant.status,
            "locale": tenant.locale,
            "currency": tenant.currency,
            "url": shop_url(tenant),
            "console_url": shop_url(tenant, "/console/"),
        },
        "owner": {"email": result.owner.email},
        "login_url": shop_url(tenant, f"/console/handoff/?token={token}"),
        "provisioned_from": result.source,
        "provisioning_ms": round(result.seconds * 1000, 1),
    }


@method_decorator(rate_limit("signup", "SIGNUP_RATE_LIMIT"), name="dispatch")
class SignupPage(View):
    template_name = "tenants/signup.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        tier = request.GET.get("tier", "standard")
        return render(request, self.template_name, {"data": {"tier": tier}, "errors": {}, "tiers": TIER_CHOICES})

    def post(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        data = {k: request.POST.get(k, "") for k in ("name", "slug", "email", "password", "tier")}
        result, errors = _run_signup(data)
        if result is None:
            data.pop("password", None)
            return render(
                request,
                self.template_name,
                {"data": data, "errors": errors, "tiers": TIER_CHOICES},
                status=503 if _is_upgrading(errors) else 400,
            )
        # Straight on to the console: a form posting the one-time token to the shop's host,
        # submitted at once by a script (or by a tap); no page on the shop's host before it.
        tenant = result.tenant
        response = _handoff_page(
            request,
            {
                "shop": tenant,
                "token": handoff_token(tenant, result.owner),
                "action": shop_url(tenant, "/console/handoff/"),
                "auto": True,
            },
        )
        # The post must carry this page's origin (Django's default policy, same-origin,
        # would send "Origin: null" with a cross-origin post).
        response["Referrer-Policy"] = "strict-origin-when-cross-origin"
        _server_timing(response, result, started)
        return response


def _is_upgrading(errors: dict[str, list[dict[str, str]]]) -> bool:
    return any(e.get("code") == "upgrading" for e in errors.get("non_field_errors", []))


class SignupSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="Shop name shown to shoppers.")
    slug = serializers.CharField(
        max_length=30, help_text="Address: <slug>.<platform domain>; 3-30 lowercase letters, digits, hyphens."
    )
    email = serializers.EmailField(help_text="Owner's email; used to log in to the merchant console.")
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    tier = serializers.ChoiceField(choices=TIER_CHOICES, default="standard")


@method_decorator(rate_limit("signup", "SIGNUP_RATE_LIMIT"), name="dispatch")
class SignupAPI(APIView):
    """Create a shop and its owner. Answers 201 with the shop's URLs and a one-time
    ``login_url`` that logs the owner in to the merchant console on the shop's host."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(
        request=SignupSerializer,
        responses={
            201: OpenApiResponse(description="Shop created"),
            400: OpenApiResponse(
                description='Field errors: {"code": "invalid", "errors": {"<field>": [{"code": "...", "message": "..."}]}}'
            ),
            429: OpenApiResponse(description="Too many signups from this address"),
        },
        tags=["signup"],
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            return Response(
                {
                    "code": "invalid",
                    "errors": {"non_field_errors": [{"code": "invalid", "message": _("Send a JSON object.")}]},
                },
                status=400,
            )
        started = time.perf_counter()
        result, errors = _run_signup(dict(request.data))
        if result is None:
            if _is_upgrading(errors):
                return Response({"code": "upgrading", "errors": errors}, status=503, headers={"Retry-After": "60"})
            return Response({"code": "invalid", "errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        response = Response(_result_payload(result), status=status.HTTP_201_CREATED)
        _server_timing(response, result, started)
        return response


def _handoff_page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    # No context processors (the console's billing banner is for the console itself).
    context = {"LANGUAGE_CODE": get_language(), "next": "", **context}
    response = HttpResponse(render_to_string("shop/console/handoff.html", context), status=status)
    response["Cache-Control"] = "no-store"  # it carries a one-time login token
    return response


@method_decorator(csrf_exempt, name="dispatch")  # checked in post(): the platform's origin, or this host's token
class HandoffView(ShopScopedMixin, View):
    """Shop host: exchange the one-time signup token for a console session.

    The signup page's answer posts the token here straight from the platform's origin (the
    browser's ``Origin`` header says so: no other site can make that post). A login link
    opened on its own (the API's ``login_url``) shows a form naming the shop and the owner,
    posted with this host's CSRF token by the visitor's tap: a link someone else sends never
    logs anybody in by itself (no login CSRF)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if _staff_here(request):
            return HttpResponseRedirect(self._target(request, request.GET.get("next", "")))
        token = request.GET.get("token", "")
        user = handoff_peek(request.tenant, token)  # type: ignore[attr-defined]
        if user is None:
            return self._invalid(request)
        return _handoff_page(
            request,
            {
                "shop": request.tenant,  # type: ignore[attr-defined]
                "token": token,
                "next": request.GET.get("next", ""),
                "owner_email": user.email,
                "csrf_token": get_token(request),
            },
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        if request.headers.get("Origin") not in platform_origins():
            rejected = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, self.post, (), {})
            if rejected is not None:
                return rejected
        target = self._target(request, request.POST.get("next", ""))
        user = handoff_user(request.tenant, request.POST.get("token", ""))  # type: ignore[attr-defined]
        if user is None:
            if _staff_here(request):  # a used link, e.g. the back button: they are logged in already
                return HttpResponseRedirect(target)
            return self._invalid(request)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return HttpResponseRedirect(target)

    @staticmethod
    def _target(request: HttpRequest, target: str) -> str:
        if not target or not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            return "/console/"
        return target

    @staticmethod
    def _invalid(request: HttpRequest) -> HttpResponse:
        return render(
            request,
            "shop/console/handoff_invalid.html",
            {"message": _("This login link has expired or was already used. Log in with your email and password.")},
            status=400,
        )


def _staff_here(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_authenticated and user.is_staff)  # type: ignore[union-attr]
