"""Merchant console (shop host, ``/console/``): login, home, staff management."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _

from platform_core.features import LimitReached, effective_features, feature_value
from platform_core.ratelimit import rate_limit
from platform_core.scoping import ConsoleView, ShopScopedMixin
from shop import staff as staff_services
from shop.models import StaffGrant


@method_decorator(rate_limit("console-login", "LOGIN_RATE_LIMIT"), name="dispatch")
class ConsoleLogin(ShopScopedMixin, auth_views.LoginView):
    template_name = "shop/console/login.html"
    redirect_authenticated_user = True

    def get_success_url(self) -> str:
        return self.get_redirect_url() or reverse("console:home")


class ConsoleLogout(ShopScopedMixin, auth_views.LogoutView):  # type: ignore[misc]
    next_page = "console:login"


@method_decorator(rate_limit("console-password", "LOGIN_RATE_LIMIT"), name="dispatch")
class PasswordChangePage(ConsoleView):
    """The signed-in staff member changes their own password. Their API tokens end with the old
    password (platform_core.accounts.signals), as do their sessions elsewhere; this one stays."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(PasswordChangeForm(request.user))  # type: ignore[arg-type]  # logged in (ConsoleView)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = PasswordChangeForm(request.user, request.POST)  # type: ignore[arg-type]
        if not form.is_valid():
            return self._page(form, status=400)
        user = form.save()
        update_session_auth_hash(request, user)
        messages.success(request, _("Your password was changed. Your API tokens were revoked."))
        return HttpResponseRedirect(reverse("console:password"))

    def _page(self, form: PasswordChangeForm, status: int = 200) -> HttpResponse:
        return self.render("shop/console/password.html", {"form": form}, status=status)


class ConsoleHome(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        seats = feature_value(self.shop, "staff_seats")
        return self.render(
            "shop/console/home.html",
            {
                "staff_count": staff_services.count_staff_seats(),
                "staff_limit": seats,
                "features": effective_features(self.shop),
            },
        )


class StaffListView(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page({}, {})

    def _page(self, errors: dict[str, Any], data: dict[str, Any], status: int = 200) -> HttpResponse:
        return self.render(
            "shop/console/staff.html",
            {
                "staff": staff_services.staff_list(),
                "errors": errors,
                "data": data,
                "seats_used": staff_services.count_staff_seats(),
                "seats_limit": feature_value(self.shop, "staff_seats"),
                "can_manage": bool(request_user_is_owner(self.request)),
                "code_holders": StaffGrant.holders(StaffGrant.Power.THEME_CODE),
            },
            status=status,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        if not request_user_is_owner(request):
            raise Http404
        data = {k: request.POST.get(k, "") for k in ("email", "name", "password")}
        try:
            staff_services.staff_add(self.shop, **data)
        except LimitReached as exc:
            return self._page({"general": [exc.message]}, data, status=403)
        except ValidationError as exc:
            data.pop("password")
            return self._page(
                {f: [str(m) for e in errs for m in e.messages] for f, errs in exc.error_dict.items()}, data, status=400
            )
        messages.success(request, _("Staff member %(email)s added.") % {"email": data["email"]})
        return HttpResponseRedirect(reverse("console:staff"))


def request_user_is_owner(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_owner", False))


class StaffActionView(ConsoleView):
    owner_only = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        member = get_object_or_404(get_user_model(), pk=pk, is_staff=True)
        action = request.POST.get("action")
        try:
            if action == "deactivate":
                staff_services.staff_set_active(self.shop, member, False)
            elif action == "activate":
                staff_services.staff_set_active(self.shop, member, True)
            elif action == "remove":
                staff_services.staff_remove(member)
            elif action == "theme_code":  # the owner lets a staff member edit the theme's code, or stops it
                StaffGrant.change(request.user, member, StaffGrant.Power.THEME_CODE, request.POST.get("allowed") == "1")
            else:
                messages.error(request, _("Unknown action."))
                return HttpResponseRedirect(reverse("console:staff"))
        except LimitReached as exc:
            messages.error(request, str(exc.message))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Saved."))
        return HttpResponseRedirect(reverse("console:staff"))
