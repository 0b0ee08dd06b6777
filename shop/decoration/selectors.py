"""Reads of decorated pages."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, QuerySet, Value, When

from shop.decoration.models import HOME, Page, PageVersion
from shop.decoration.services import home_page


def page_list() -> QuerySet[Page]:
    """Every page, the home page first (made if the shop has none yet)."""
    home_page()
    return Page.objects.order_by(Case(When(slug=HOME, then=Value(0)), default=Value(1)), "id")


def page_summary(page: Page) -> dict[str, Any]:
    return {
        "slug": page.slug,
        "title": page.title,
        "is_home": page.is_home,
        "version": page.version,
        "revision": page.draft_revision,
        "published_at": page.published_at,
        "updated_at": page.updated_at,
        "has_unpublished_changes": page.draft_blocks != page.published_blocks,
        "blocks": len(page.draft_blocks),
    }


def page_versions(page: Page) -> QuerySet[PageVersion]:
    return page.versions.order_by("-number")
