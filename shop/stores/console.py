"""Merchant console pages for pickup stores: the list (open or closed now, the plan's
store limit, activate/deactivate) and the form (address, phone, a per-weekday hours
editor). Staff see them; only the owner changes anything (403 otherwise)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core.features import LimitReached, feature_value
from platform_core.scoping import ConsoleView
from shop.stores import hours, selectors, services
from shop.stores.models import Store

TEXT_INPUTS = ("name", "phone", "province", "city", "district", "address", "latitude", "longitude")
DEFAULT_DAY = "09:00-21:00"


def _is_owner(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_owner", False))


def _limit_context(shop: Any) -> dict[str, Any]:
    used, limit = selectors.count_stores(), feature_value(shop, "stores")
    return {"used": used, "limit": limit, "at_limit": limit is not None and used >= limit}


class StoreList(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        now = timezone.now()
        today = hours.DAYS[selectors.local_time(now).weekday()]
        rows = [
            {
                "store": store,
                "open_now": selectors.is_open_at(store, now),
                "today": hours.format_day(store.opening_hours.get(today)),
            }
            for store in Store.objects.all()
        ]
        return self.render(
            "stores/console/stores.html",
            {"rows": rows, "can_manage": _is_owner(request), **_limit_context(self.shop)},
        )


class StoreForm(ConsoleView):
    """Create (``new/``) or edit a store. Each weekday is one text input such as
    "09:00-12:00, 13:00-21:00" (empty = closed); errors are shown beside the day."""

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        store = get_object_or_404(Store, pk=pk) if pk else None
        if store is None:
            data: dict[str, Any] = {field: "" for field in TEXT_INPUTS}
            data["pickup_enabled"] = True
            days = {day: DEFAULT_DAY for day in hours.DAYS}
        else:
            data = {field: "" if getattr(store, field) is None else str(getattr(store, field)) for field in TEXT_INPUTS}
            data["pickup_enabled"] = store.pickup_enabled
            days = {day: hours.format_day(store.opening_hours.get(day)) for day in hours.DAYS}
        return self._page(store, data, days, {})

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        if not _is_owner(request):
            raise PermissionDenied
        store = get_object_or_404(Store, pk=pk) if pk else None
        data: dict[str, Any] = {field: request.POST.get(field, "") for field in TEXT_INPUTS}
        data["pickup_enabled"] = request.POST.get("pickup_enabled") in ("on", "1", "true")
        days = {day: request.POST.get(f"hours_{day}", "") for day in hours.DAYS}
        errors: dict[str, list[str]] = {}
        week: dict[str, Any] = {}
        for day, text in days.items():
            try:
                week[day] = hours.parse_day(text)
            except ValueError as exc:
                errors[f"hours_{day}"] = [str(exc)]
                week[day] = []
        _cleaned, problems = hours.hours_problems(week)
        for day, msgs in problems.items():
            errors.setdefault(f"hours_{day}" if day else "opening_hours", []).extend(msgs)
        payload = {**data, "opening_hours": week}
        try:
            services.store_clean(payload, store)
        except ValidationError as exc:
            for field, msgs in exc.message_dict.items():
                if field != "opening_hours":  # already placed beside each day
                    errors.setdefault(field, []).extend(str(m) for m in msgs)
        if errors:
            return self._page(store, data, days, errors, status=400)
        try:
            if store is None:
                saved = services.store_create(self.shop, payload)
            else:
                saved = services.store_update(self.shop, store, payload)
        except LimitReached as exc:
            return self._page(store, data, days, {"limit": [str(exc.message)]}, status=403)
        except ValidationError as exc:  # a concurrent change (e.g. the name was just taken)
            return self._page(
                store, data, days, {f: [str(m) for m in msgs] for f, msgs in exc.message_dict.items()}, status=400
            )
        messages.success(request, _("Saved “%(name)s”.") % {"name": saved.name})
        return HttpResponseRedirect(reverse("stores-console:stores"))

    def _page(
        self,
        store: Store | None,
        data: dict[str, Any],
        days: dict[str, str],
        errors: dict[str, list[str]],
        status: int = 200,
    ) -> HttpResponse:
        week = [
            {
                "key": day,
                "label": hours.day_label(day),
                "value": days.get(day, ""),
                "errors": errors.get(f"hours_{day}"),
            }
            for day in hours.DAYS
        ]
        return self.render(
            "stores/console/store_form.html",
            {
                "store": store,
                "data": data,
                "week": week,
                "errors": errors,
                "can_manage": _is_owner(self.request),
                **_limit_context(self.shop),
            },
            status=status,
        )


class StoreActive(ConsoleView):
    """POST ``action=activate|deactivate`` (owner only)."""

    owner_only = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        store = get_object_or_404(Store, pk=pk)
        action = request.POST.get("action")
        if action not in ("activate", "deactivate"):
            messages.error(request, _("Unknown action."))
            return HttpResponseRedirect(reverse("stores-console:stores"))
        try:
            services.store_set_active(self.shop, store, action == "activate")
        except LimitReached as exc:
            messages.error(request, str(exc.message))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            if action == "activate":
                messages.success(request, _("“%(name)s” is active again.") % {"name": store.name})
            else:
                messages.success(request, _("“%(name)s” is deactivated.") % {"name": store.name})
        return HttpResponseRedirect(reverse("stores-console:stores"))
