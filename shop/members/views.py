"""Storefront account pages (shop host, ``/account/``): register, log in and out, the
member centre, profile, password, addresses. Thin: every write is a service call."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View

from platform_core.ratelimit import client_address, hit
from platform_core.scoping import ShopScopedMixin
from shop.members import selectors, services
from shop.members.auth import MemberRequiredMixin, current_member
from shop.members.models import MAX_ADDRESSES, Address

ADDRESS_INPUTS = ("recipient", "phone", "province", "city", "district", "detail", "postal_code")


def form_errors(exc: ValidationError) -> dict[str, list[str]]:
    """A service's ValidationError as field → messages; whole-form errors under "general"."""
    if not hasattr(exc, "error_dict"):
        return {"general": [str(m) for m in exc.messages]}
    errors = {field: [str(m) for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
    if NON_FIELD_ERRORS in errors:
        errors["general"] = errors.pop(NON_FIELD_ERRORS)
    return errors


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def themed(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    page_context: dict[str, Any] | None = None,
) -> HttpResponse:
    """An account form rendered inside the shop's theme: the form itself is a Django
    template fragment, the page around it (header, colours, navigation) is the theme's —
    ``templates/account`` for the member centre, ``templates/form`` for the rest;
    ``page_context`` is handed to that page (the member centre's shop balance)."""
    from markupsafe import Markup

    from shop.storefront.theming import render_page

    fragment = Markup(render_to_string(template, context, request=request))
    page = "templates/account" if template == "members/home.html" else "templates/form"
    return render_page(request, page, {"content_for_page": fragment, **(page_context or {})}, status=status)


class AccountPage(ShopScopedMixin, View):
    """A storefront account page open to everyone (register, log in)."""

    def render(self, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
        context = {"shop": self.shop, "member": current_member(self.request), **context}
        return themed(self.request, template, context, status=status)

    def rate_limited(self, scope: str) -> HttpResponse | None:
        """The same per-address, per-shop budget as the API, answered with the form."""
        wait = hit(scope, client_address(self.request), settings.LOGIN_RATE_LIMIT)
        if wait is None:
            return None
        return self.form_page(
            {"general": [_("Too many attempts. Try again in %(s)s seconds.") % {"s": wait}]},
            self.form_data(),
            status=429,
            retry_after=wait,
        )

    def form_data(self) -> dict[str, str]:
        return {}

    def form_page(
        self, errors: dict[str, list[str]], data: dict[str, str], status: int = 200, retry_after: int | None = None
    ) -> HttpResponse:
        raise NotImplementedError


class MemberPage(MemberRequiredMixin, View):
    """A page of the member centre: logged-in members only."""

    def render(
        self, template: str, context: dict[str, Any], status: int = 200, page_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"shop": self.shop, "member": self.member, **context}
        return themed(self.request, template, context, status=status, page_context=page_context)


# --- register, log in, log out ------------------------------------------------------------


class RegisterView(AccountPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        if current_member(request) is not None:
            return HttpResponseRedirect(safe_next(request, reverse("members:home")))
        return self.form_page({}, {})

    def form_data(self) -> dict[str, str]:
        return {k: self.request.POST.get(k, "") for k in ("phone", "email", "name")}

    def form_page(
        self, errors: dict[str, list[str]], data: dict[str, str], status: int = 200, retry_after: int | None = None
    ) -> HttpResponse:
        response = self.render(
            "members/register.html", {"errors": errors, "data": data, "next": safe_next(self.request, "")}, status
        )
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response

    def post(self, request: HttpRequest) -> HttpResponse:
        if limited := self.rate_limited("member-register"):
            return limited
        data = self.form_data()
        try:
            member = services.member_register(password=request.POST.get("password", ""), **data)
        except ValidationError as exc:
            return self.form_page(form_errors(exc), data, status=400)
        services.member_login(request, member)
        messages.success(request, _("Welcome! Your account is ready."))
        return HttpResponseRedirect(safe_next(request, reverse("members:home")))


class LoginView(AccountPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        if current_member(request) is not None:
            return HttpResponseRedirect(safe_next(request, reverse("members:home")))
        return self.form_page({}, {})

    def form_data(self) -> dict[str, str]:
        return {"login": self.request.POST.get("login", "")}

    def form_page(
        self, errors: dict[str, list[str]], data: dict[str, str], status: int = 200, retry_after: int | None = None
    ) -> HttpResponse:
        response = self.render(
            "members/login.html", {"errors": errors, "data": data, "next": safe_next(self.request, "")}, status
        )
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response

    def post(self, request: HttpRequest) -> HttpResponse:
        if limited := self.rate_limited("member-login"):
            return limited
        data = self.form_data()
        try:
            member = services.member_authenticate(data["login"], request.POST.get("password", ""))
        except ValidationError as exc:
            return self.form_page(form_errors(exc), data, status=400)
        services.member_login(request, member)
        return HttpResponseRedirect(safe_next(request, reverse("members:home")))


class LogoutView(ShopScopedMixin, View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        services.member_logout(request)
        return HttpResponseRedirect(reverse("storefront-home"))


# --- member centre ------------------------------------------------------------------------


class AccountHome(MemberPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        from shop.wallet import services as wallet

        addresses = list(selectors.address_list(self.member))
        return self.render(
            "members/home.html",
            {"addresses": addresses, "can_add_address": len(addresses) < MAX_ADDRESSES, "max_addresses": MAX_ADDRESSES},
            page_context={"balance": wallet.balance(self.member)},
        )


class ProfileView(MemberPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        member = self.member
        return self._page({}, {"name": member.name, "phone": member.phone or "", "email": member.email or ""})

    def _page(self, errors: dict[str, list[str]], data: dict[str, str], status: int = 200) -> HttpResponse:
        return self.render("members/profile.html", {"errors": errors, "data": data}, status)

    def post(self, request: HttpRequest) -> HttpResponse:
        data = {k: request.POST.get(k, "") for k in ("name", "phone", "email")}
        try:
            services.member_update_profile(
                self.member, current_password=request.POST.get("current_password", ""), **data
            )
        except ValidationError as exc:
            return self._page(form_errors(exc), data, status=400)
        messages.success(request, _("Your profile has been saved."))
        return HttpResponseRedirect(reverse("members:home"))


class PasswordView(MemberPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render("members/password.html", {"errors": {}})

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            services.member_change_password(
                self.member,
                old_password=request.POST.get("old_password", ""),
                new_password=request.POST.get("new_password", ""),
                request=request,
            )
        except ValidationError as exc:
            return self.render("members/password.html", {"errors": form_errors(exc)}, status=400)
        messages.success(request, _("Your password has been changed. Other devices have been logged out."))
        return HttpResponseRedirect(reverse("members:home"))


# --- addresses ----------------------------------------------------------------------------


class AddressFormMixin:
    request: HttpRequest

    def address_data(self) -> dict[str, str]:
        return {k: self.request.POST.get(k, "") for k in ADDRESS_INPUTS}

    def wants_default(self) -> bool:
        return self.request.POST.get("is_default") in ("on", "true", "1")


class AddressCreateView(AddressFormMixin, MemberPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page({}, {}, is_default=not selectors.address_list(self.member).exists())

    def _page(
        self, errors: dict[str, list[str]], data: dict[str, str], *, is_default: bool, status: int = 200
    ) -> HttpResponse:
        return self.render(
            "members/address_form.html",
            {
                "errors": errors,
                "data": data,
                "is_default": is_default,
                "address": None,
                "next": safe_next(self.request, ""),
            },
            status,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        data = self.address_data()
        try:
            services.address_create(self.member, is_default=self.wants_default(), **data)
        except ValidationError as exc:
            return self._page(form_errors(exc), data, is_default=self.wants_default(), status=400)
        messages.success(request, _("Address saved."))
        return HttpResponseRedirect(safe_next(request, reverse("members:home")))


class AddressEditView(AddressFormMixin, MemberPage):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        address = selectors.address_get(self.member, pk)
        data = {k: getattr(address, k) for k in ADDRESS_INPUTS}
        return self._page(address, {}, data, is_default=address.is_default)

    def _page(
        self,
        address: Address,
        errors: dict[str, list[str]],
        data: dict[str, str],
        *,
        is_default: bool,
        status: int = 200,
    ) -> HttpResponse:
        return self.render(
            "members/address_form.html",
            {"errors": errors, "data": data, "is_default": is_default, "address": address, "next": ""},
            status,
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        address = selectors.address_get(self.member, pk)
        data = self.address_data()
        try:
            services.address_update(address, is_default=self.wants_default(), **data)
        except ValidationError as exc:
            return self._page(address, form_errors(exc), data, is_default=self.wants_default(), status=400)
        messages.success(request, _("Address saved."))
        return HttpResponseRedirect(reverse("members:home"))


class AddressDeleteView(MemberPage):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        services.address_delete(selectors.address_get(self.member, pk))
        messages.success(request, _("Address deleted."))
        return HttpResponseRedirect(reverse("members:home"))


class AddressDefaultView(MemberPage):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        services.address_set_default(selectors.address_get(self.member, pk))
        messages.success(request, _("Default address changed."))
        return HttpResponseRedirect(reverse("members:home"))
