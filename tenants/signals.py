"""Events other apps subscribe to (tenants imports none of them)."""

from django.dispatch import Signal

# Sent inside the signup transaction, after the shop, its host and owner exist.
# kwargs: tenant
shop_created = Signal()
