"""Group buying (拼团) on the storefront: the deals on a product page, the group a share link
opens (``/groups/<id>/``), and the small checkout that starts or joins a group."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404

from platform_core.parsing import as_id
from shop.members import selectors as member_selectors
from shop.members.auth import MemberRequiredMixin
from shop.members.views import form_errors
from shop.orders import services as order_services
from shop.storefront import drops
from shop.storefront.views import StorefrontPage, _int


def group_deals_for(product: Any) -> list[dict[str, Any]]:
    """The running group deals that sell one of ``product``'s SKUs, with its open groups a
    shopper can join right away."""
    from shop.marketing import groups
    from shop.marketing.models import GroupDealItem

    items = GroupDealItem.objects.filter(
        deal__in=groups.running_deals(), sku__product=product, sku__is_active=True
    ).select_related("deal", "sku")
    rows = []
    for item in items:
        open_groups = [groups.group_row(g) for g in groups.joinable_groups(item.deal)[:3]]
        rows.append(
            {
                "deal": item.deal_id,
                "name": item.deal.name,
                "size": item.deal.size,
                "hours": item.deal.hours,
                "sku": item.sku_id,
                "label": item.sku.label,
                "price": item.sku.price,
                "group_price": item.price,
                "open_url": f"/group-buy/{item.deal_id}/?sku={item.sku_id}",
                "groups": [{**g, "url": f"/groups/{g['id']}/"} for g in open_groups],
            }
        )
    return rows


class GroupPage(StorefrontPage):
    """A group as its share link shows it: who is in, places left, time left, and a Join
    button (or, when it is full or over, the way to open a new one)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from shop.marketing import groups
        from shop.marketing.models import Group

        group = get_object_or_404(
            Group.objects.select_related("deal", "leader").prefetch_related("members__member", "deal__items__sku"),
            pk=pk,
        )
        row = groups.group_row(group)
        item = group.deal.items.first()
        joinable = row["status"] == "open" and row["places_left"] > 0 and (row["countdown"] or 0) > 0
        return self.page(
            "templates/group",
            {
                "group": {
                    **row,
                    "expires_at": row["expires_at"].isoformat() if row["expires_at"] else "",
                    "expires_label": drops.local(row["expires_at"]),  # the shop's time zone
                },
                "deal": {"id": group.deal_id, "name": group.deal.name, "size": group.deal.size},
                "item": {
                    "sku": item.sku_id,
                    "name": item.sku.product.name,
                    "price": item.sku.price,
                    "group_price": item.price,
                    "product_url": f"/products/{item.sku.product_id}/",
                }
                if item
                else None,
                "join_url": f"/group-buy/{group.deal_id}/?sku={item.sku_id}&group={group.pk}"
                if item and joinable
                else "",
                "open_url": f"/group-buy/{group.deal_id}/?sku={item.sku_id}" if item else "",
                "page_title": group.deal.name,
            },
        )


class GroupCheckout(MemberRequiredMixin, StorefrontPage):
    """Open a group, or join one (``?group=``): one item at the group price, delivered or
    picked up, then the payment page. The group opens (or the place counts) once paid."""

    def _context(self, request: HttpRequest, deal: Any, data: dict[str, Any]) -> dict[str, Any]:
        from shop.stores.models import Store

        addresses = list(member_selectors.address_list(self.member))
        stores = list(Store.objects.filter(is_active=True, pickup_enabled=True).order_by("name"))
        item = deal.items.filter(sku_id=as_id(data.get("sku"))).select_related("sku__product").first()
        return {
            "deal": {"id": deal.pk, "name": deal.name, "size": deal.size, "hours": deal.hours},
            "item": {
                "sku": item.sku_id,
                "name": item.sku.product.name,
                "label": item.sku.label,
                "price": item.sku.price,
                "group_price": item.price,
            }
            if item
            else None,
            "group": as_id(data.get("group")) or "",
            "quantity": data.get("quantity") or "1",
            "fulfilment": data.get("fulfilment") or ("delivery" if addresses else "pickup"),
            "addresses": [{"id": a.pk, "text": a.one_line, "default": a.is_default} for a in addresses],
            "address": as_id(data.get("address")) or next((a.pk for a in addresses if a.is_default), None),
            "stores": [{"id": s.pk, "name": s.name} for s in stores],
            "store": as_id(data.get("store")) or (stores[0].pk if stores else None),
            "add_address_url": f"/account/addresses/new/?next={request.path}",
        }

    def _deal(self, pk: int) -> Any:
        from shop.marketing import groups

        return get_object_or_404(groups.running_deals().prefetch_related("items"), pk=pk)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        deal = self._deal(pk)
        return self.page("templates/group-checkout", self._context(request, deal, dict(request.GET.items())))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from shop.marketing import groups
        from shop.marketing.models import Group

        deal = self._deal(pk)
        data = {k: request.POST.get(k, "") for k in ("sku", "group", "fulfilment", "address", "store", "note")}
        body: dict[str, Any] = {
            "sku": data["sku"],
            "quantity": _int(request.POST.get("quantity")) or 0,
            "fulfilment": data["fulfilment"],
            "address": data["address"] or None,
            "store": data["store"] or None,
            "note": data["note"],
        }
        context = self._context(request, deal, {**data, "quantity": request.POST.get("quantity", "")})
        try:
            if data["group"]:
                group = get_object_or_404(Group, pk=as_id(data["group"]) or 0, deal=deal)
                order = groups.group_join(self.member, group, body)
            else:
                order = groups.group_open(self.member, deal, body)
        except order_services.OrderRefused as exc:
            context["errors"] = {"general": [str(exc.message)]}
            context["group"] = ""  # the way forward: open a new group
            return self.page("templates/group-checkout", context, status=409)
        except ValidationError as exc:
            context["errors"] = drops.errors_data(form_errors(exc))
            return self.page("templates/group-checkout", context, status=400)
        return HttpResponseRedirect(f"/account/orders/{order.pk}/pay/")
