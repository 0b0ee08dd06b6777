"""The merchant's members page: find members, see their orders and spend, disable one."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _

from platform_core.scoping import ConsoleView
from shop.members import services
from shop.members.models import Member

PAID_STATUSES = ["paid", "shipped", "delivered", "ready_for_pickup", "picked_up", "completed"]


class MemberList(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        q = request.GET.get("q", "").strip()
        members = Member.objects.annotate(
            order_count=Count("orders", filter=Q(orders__status__in=PAID_STATUSES)),
            spent=Sum("orders__payable", filter=Q(orders__status__in=PAID_STATUSES)),
            balance=Coalesce(F("wallet_balance__balance"), 0),  # the shop balance (one row per member)
        ).order_by("-date_joined")
        if q:
            members = members.filter(Q(phone__contains=q) | Q(email__icontains=q) | Q(name__icontains=q))
        return self.render(
            "members/console/members.html", {"members": members[:200], "q": q, "total": Member.objects.count()}
        )


class MemberActive(ConsoleView):
    owner_only = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        member = get_object_or_404(Member, pk=pk)
        active = request.POST.get("action") == "activate"
        services.member_set_active(member, active)
        messages.success(
            request, _("Member enabled.") if active else _("Member disabled; their sessions and tokens end now.")
        )
        return HttpResponseRedirect(reverse("members-console:members"))
