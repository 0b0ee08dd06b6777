from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "shop.marketing"
    label = "marketing"
    verbose_name = _("Marketing")

    def ready(self) -> None:
        from shop.decoration.blocks import register_data_provider
        from shop.marketing import (
            flash,
            groups,
            receivers,  # noqa: F401 - coupons follow their order; coupons on registration
        )
        from shop.marketing.selectors import coupon_block_data

        register_data_provider("coupons", coupon_block_data)
        register_data_provider("flash_sale", flash.block_data)
        register_data_provider("group_buy", groups.block_data)

        from platform_core.localcache import invalidate_on_change, of_current_shop
        from shop.marketing.models import FlashSession, FullReduction, LimitedDiscount

        # The activity calendar (selectors.calendar) is kept per process.
        for model in (FullReduction, LimitedDiscount, FlashSession):
            invalidate_on_change(model, of_current_shop)
