"""Marketing API. Members (``/api/v1/marketing/``): the coupon claim centre, claiming (also
by a distributor's code), my coupons by state, the coupons usable for the cart now, and a
product's activity prices (countdown). Merchant console (``/api/v1/console/marketing/``):
coupon templates (issue to members, end), limited-time discounts and full-reduction rules,
gated by the shop's features. Amounts are fen."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api import IsConsoleUser, requires_feature
from platform_core.api import drf_errors as _drf
from platform_core.api import json_body as _body
from platform_core.parsing import as_id
from platform_core.scoping import ShopAPIView, ShopViewSet
from shop.catalogue.models import Product
from shop.checkout import services as checkout
from shop.marketing import selectors, services
from shop.marketing.models import CouponTemplate, DiscountItem, FullReduction, LimitedDiscount, MemberCoupon
from shop.members.auth import MEMBER_AUTHENTICATION, IsMember
from shop.members.models import Member


# --- serializers --------------------------------------------------------------------------
class TemplateSerializer(serializers.ModelSerializer):
    remaining = serializers.SerializerMethodField()

    class Meta:
        model = CouponTemplate
        fields = [
            "id",
            "name",
            "kind",
            "amount",
            "percent_off",
            "max_discount",
            "min_spend",
            "scope",
            "category_ids",
            "product_ids",
            "excluded_product_ids",
            "valid_from",
            "valid_until",
            "valid_days",
            "total_quantity",
            "per_member_limit",
            "combines_with_activities",
            "remaining",
        ]

    def get_remaining(self, obj: CouponTemplate) -> int | None:
        return None if obj.total_quantity is None else max(obj.total_quantity - obj.issued, 0)


class ConsoleTemplateSerializer(TemplateSerializer):
    used = serializers.SerializerMethodField()

    class Meta(TemplateSerializer.Meta):
        fields = [
            *TemplateSerializer.Meta.fields,
            "issued",
            "used",
            "claimable",
            "on_registration",
            "distributor_code",
            "ended_at",
            "created_at",
        ]

    def get_used(self, obj: CouponTemplate) -> int:
        return obj.coupons.filter(status=MemberCoupon.Status.USED).count()


class MemberCouponSerializer(serializers.ModelSerializer):
    template = TemplateSerializer(read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = MemberCoupon
        fields = ["id", "state", "source", "valid_from", "valid_until", "claimed_at", "used_at", "order", "template"]

    def get_state(self, obj: MemberCoupon) -> str:
        return selectors.coupon_state(obj)


class DiscountItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = DiscountItem
        fields = ["product", "sku", "percent_off", "price"]


class DiscountSerializer(serializers.ModelSerializer):
    items = DiscountItemSerializer(many=True, read_only=True)
    units_sold = serializers.SerializerMethodField()

    class Meta:
        model = LimitedDiscount
        fields = [
            "id",
            "name",
            "starts_at",
            "ends_at",
            "per_member_limit",
            "ended_at",
            "created_at",
            "items",
            "units_sold",
        ]

    def get_units_sold(self, obj: LimitedDiscount) -> int:
        return sum(u.quantity for u in obj.uses.exclude(order__status="cancelled"))


class ReductionSerializer(serializers.ModelSerializer):
    class Meta:
        model = FullReduction
        fields = ["id", "name", "kind", "tiers", "product_ids", "starts_at", "ends_at", "ended_at", "created_at"]


class ClaimCodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class IssueSerializer(serializers.Serializer):
    members = serializers.ListField(child=serializers.IntegerField())


# --- member side --------------------------------------------------------------------------
def _service(work: Any) -> Any:
    try:
        return work()
    except DjangoValidationError as exc:
        raise _drf(exc) from exc


class ClaimCentre(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    """Coupons on offer now. A logged-in member also sees how many they hold of each."""

    authentication_classes = MEMBER_AUTHENTICATION
    serializer_class = TemplateSerializer

    def get_permissions(self) -> list[permissions.BasePermission]:
        if self.action in ("claim", "claim_code"):
            return [IsMember()]
        return [permissions.AllowAny()]

    def get_queryset(self) -> Any:
        if self.action == "claim":  # one sold out or ended: the service says so (400)
            return CouponTemplate.objects.filter(claimable=True, distributor_code="")
        return selectors.claim_centre()

    @extend_schema(parameters=[OpenApiParameter("product", int, description="only coupons that apply to this product")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        templates = list(self.get_queryset()[:200])
        if request.query_params.get("product") is not None:
            pk = as_id(request.query_params["product"])
            product = Product.objects.filter(pk=pk).first() if pk else None
            if product is None:
                raise serializers.ValidationError({"product": [_("No such product.")]})
            templates = [t for t in templates if selectors.covers_product(t, product)]
        data = TemplateSerializer(templates, many=True).data
        member = request.user if isinstance(request.user, Member) else None
        held: dict[int, int] = selectors.claimed_counts(member, [t.pk for t in templates]) if member else {}
        for row, template in zip(data, templates, strict=True):
            row["claimed"] = held.get(template.pk, 0)
            row["can_claim"] = held.get(template.pk, 0) < template.per_member_limit
        return Response(data)

    @extend_schema(request=None, responses={201: MemberCouponSerializer})
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        coupon = _service(lambda: services.coupon_claim(cast(Any, request.user), template.pk))
        return Response(MemberCouponSerializer(coupon).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ClaimCodeSerializer, responses={201: MemberCouponSerializer})
    @action(detail=False, methods=["post"], url_path="claim-code")
    def claim_code(self, request: Request) -> Response:
        code = _body(request).get("code")
        coupon = _service(lambda: services.coupon_claim_code(cast(Any, request.user), code))
        return Response(MemberCouponSerializer(coupon).data, status=status.HTTP_201_CREATED)


class MyCoupons(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    """The member's coupons; ``?state=unused|locked|used|expired``."""

    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [IsMember]
    serializer_class = MemberCouponSerializer
    queryset = MemberCoupon.objects.none()  # (for the schema) get_queryset scopes to the member

    def get_queryset(self) -> Any:
        state = self.request.query_params.get("state") or None
        if state is not None and state not in MemberCoupon.Status.values:
            raise serializers.ValidationError(
                {"state": [_("One of: %(choices)s.") % {"choices": ", ".join(MemberCoupon.Status.values)}]}
            )
        return selectors.member_coupons(cast(Any, self.request.user), state)

    @extend_schema(parameters=[OpenApiParameter("state", str, enum=list(MemberCoupon.Status.values))])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[OpenApiParameter("fulfilment", str, enum=["delivery", "pickup"])], responses={200: dict})
    @action(detail=False, methods=["get"])
    def usable(self, request: Request) -> Response:
        """The member's unused coupons against the cart as it is now: whether each applies,
        what it would take off, and why not."""
        member = cast(Any, request.user)
        cart = checkout.cart_for_member(member)
        fulfilment = request.query_params.get("fulfilment", "pickup")
        base = checkout.cart_quote(cart, fulfilment=fulfilment, member=member)
        rows: list[dict[str, Any]] = []
        now = timezone.now()
        for coupon in selectors.member_coupons(member, MemberCoupon.Status.UNUSED, now)[:50]:
            if coupon.valid_from is not None and coupon.valid_from > now:
                continue
            found = checkout.cart_quote(cart, fulfilment=fulfilment, member=member, coupon=coupon.pk)
            rows.append(
                {
                    "coupon": MemberCouponSerializer(coupon).data,
                    "applies": found.priced.coupon_applied,
                    "problem": found.priced.coupon_problem,
                    "saves": base.payable - found.payable,
                    "payable": found.payable,
                }
            )
        rows.sort(key=lambda r: (not r["applies"], -r["saves"], r["coupon"]["id"]))
        return Response({"payable_without_coupon": base.payable, "coupons": rows})


class ProductOffers(ShopAPIView):
    """A product's activity prices now, per SKU, with when each ends (for a countdown)."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, pk: int) -> Response:
        product = get_object_or_404(Product, pk=pk, status=Product.Status.ON_SALE)
        return Response({"product": product.pk, "now": timezone.now(), "skus": selectors.product_offers(product)})


# --- merchant console ---------------------------------------------------------------------
class _ConsoleCrud(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    feature = ""
    save: Any = None
    end_service: Any = None
    delete_service: Any = None

    def get_permissions(self) -> list[permissions.BasePermission]:
        return [IsConsoleUser(), requires_feature(self.feature)()]

    def _answer(self, obj: Any, code: int = 200) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=obj.pk)).data, status=code)

    def create(self, request: Request) -> Response:
        body = _body(request)
        return self._answer(_service(lambda: type(self).save(body)), status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str | None = None) -> Response:
        obj, body = self.get_object(), _body(request)
        return self._answer(_service(lambda: type(self).save(body, obj)))

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        _service(lambda: type(self).delete_service(obj))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(type(self).end_service(self.get_object()))


class ConsoleCoupons(_ConsoleCrud):
    """Coupon templates: create, change (what members already hold stays as it was), end,
    delete (none issued), and issue to chosen members."""

    feature = "coupons"
    serializer_class = ConsoleTemplateSerializer
    queryset = CouponTemplate.objects.all()
    save = staticmethod(services.coupon_template_save)
    end_service = staticmethod(services.coupon_template_end)
    delete_service = staticmethod(services.coupon_template_delete)

    @extend_schema(request=IssueSerializer, responses={201: dict})
    @action(detail=True, methods=["post"])
    def issue(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        members = _body(request).get("members")
        return Response(_service(lambda: services.coupon_issue(template, members)), status=status.HTTP_201_CREATED)


class ConsoleDiscounts(_ConsoleCrud):
    """Limited-time discounts: items are ``{"product", "sku" (or null: every SKU),
    "percent_off" | "price"}``."""

    feature = "limited_time_discounts"
    serializer_class = DiscountSerializer
    queryset = LimitedDiscount.objects.prefetch_related("items")
    save = staticmethod(services.discount_save)
    end_service = staticmethod(services.discount_end)
    delete_service = staticmethod(services.discount_delete)


class ConsoleReductions(_ConsoleCrud):
    """Full reductions: ``kind`` amount (满减) or percent (满折), ``tiers`` [{"threshold",
    "value"}] with rising thresholds, ``product_ids`` (empty: the whole shop)."""

    feature = "limited_time_discounts"
    serializer_class = ReductionSerializer
    queryset = FullReduction.objects.all()
    save = staticmethod(services.reduction_save)
    end_service = staticmethod(services.reduction_end)
    delete_service = staticmethod(lambda rule: rule.delete())
