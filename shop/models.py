# The commerce core's models arrive with the shop-core issue; the merchant console's
# staff are platform_core.accounts users in the shop's schema.
