from __future__ import annotations

import secrets

from django import template

register = template.Library()


@register.simple_tag
def form_key() -> str:
    """A fresh idempotency key for one form: submitting it twice does the work once."""
    return secrets.token_urlsafe(18)
