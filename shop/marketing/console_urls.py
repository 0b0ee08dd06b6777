from django.urls import URLPattern, URLResolver, path

from shop.marketing import console, console_activities

app_name = "marketing-console"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", console.MarketingHome.as_view(), name="home"),
    path("coupons/new/", console.CouponNew.as_view(), name="coupon-new"),
    path("discounts/new/", console.DiscountNew.as_view(), name="discount-new"),
    path("reductions/new/", console.ReductionNew.as_view(), name="reduction-new"),
    path("coupons/<int:pk>/end/", console.End.as_view(), {"kind": "coupons"}, name="coupon-end"),
    path("discounts/<int:pk>/end/", console.End.as_view(), {"kind": "discounts"}, name="discount-end"),
    path("reductions/<int:pk>/end/", console.End.as_view(), {"kind": "reductions"}, name="reduction-end"),
    path("flash-sales/", console_activities.FlashSales.as_view(), name="flash-sales"),
    path("flash-sales/<int:pk>/end/", console_activities.FlashEnd.as_view(), name="flash-sale-end"),
    path("group-deals/", console_activities.GroupDeals.as_view(), name="group-deals"),
    path("group-deals/<int:pk>/", console_activities.GroupDealDetail.as_view(), name="group-deal"),
    path("group-deals/<int:pk>/end/", console_activities.GroupDealEnd.as_view(), name="group-deal-end"),
]
