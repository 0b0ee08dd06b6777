"""Events of the commerce core, sent once the transaction that caused them commits.

Other domains (distribution, marketing, analytics) subscribe; the core imports none of
them. Two kinds of subscription:

* ``signal.connect(receiver)``: runs after commit, in the shop's schema. Each receiver is
  isolated: one that raises is logged (with the shop) and never skips the others, nor turns
  the committed write into an error. Receivers must be idempotent.
* ``connect_durable(signal, handler)``: for work that must happen. The handler runs inside
  the publishing transaction and records that work in the transactional outbox
  (``platform_core.outbox.enqueue``), so it commits together with the effect and survives
  a broker outage or a crash after the commit. It must do nothing else: it runs before the
  commit, and a handler that raises rolls the change back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django_tenants.utils import schema_context

from platform_core.tenancy import current_schema

log = logging.getLogger(__name__)

order_created = Signal()  # order
order_paid = Signal()  # order
order_cancelled = Signal()  # order, reason
order_shipped = Signal()  # order
order_completed = Signal()  # order
refund_failed = Signal()  # refund (the provider refused it; the amount is refundable again)
order_refunded = Signal()  # order, refund (money sent back: refund.amount of refund.payment)
aftersale_opened = Signal()  # aftersale
aftersale_closed = Signal()  # aftersale, outcome ("refunded", "rejected", "cancelled")

_durable: dict[int, list[Callable[..., None]]] = {}


def connect_durable(signal: Signal, handler: Callable[..., None]) -> None:
    """Run ``handler(**kwargs)`` inside every transaction that publishes ``signal``, to
    enqueue outbox work (see the module's docstring). Registered once per handler."""
    handlers = _durable.setdefault(id(signal), [])
    if handler not in handlers:
        handlers.append(handler)


def _name(signal: Signal) -> str:
    return next((k for k, v in globals().items() if v is signal), repr(signal))


def publish(signal: Signal, **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits, in the schema of the shop that
    published it (the commit may happen after the code that published has left it); the
    durable handlers record their work now, in this transaction."""
    schema = current_schema()

    def send() -> None:
        with schema_context(schema):
            for receiver, result in signal.send_robust(sender=signal, **kwargs):
                if isinstance(result, Exception):
                    log.error(
                        "event %s: receiver %s.%s failed; the other receivers ran",
                        _name(signal),
                        getattr(receiver, "__module__", "?"),
                        getattr(receiver, "__qualname__", repr(receiver)),
                        exc_info=(type(result), result, result.__traceback__),
                    )

    transaction.on_commit(send, robust=True)
    for handler in _durable.get(id(signal), []):
        handler(**kwargs)
