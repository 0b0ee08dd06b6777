from tests.orders.conftest import buyer  # noqa: F401 - a member of alpha with an address
