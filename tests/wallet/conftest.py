from tests.distribution.conftest import deliver_events  # noqa: F401
