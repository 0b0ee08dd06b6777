"""Signals of the members domain."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after a member logged in, by web session or by API token, and after registration
# (which logs the new member in). Arguments: ``sender`` (the Member class), ``request``
# (the Django HttpRequest), ``member``. The cart merges a guest cart on it.
member_logged_in = Signal()
