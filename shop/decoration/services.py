"""Every write to decorated pages, each in one transaction, with field-level errors; and
``page_for_render``, what the theme engine and the JSON API render."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from platform_core.features import has_feature
from platform_core.images import checked_upload
from shop.catalogue.selectors import catalogue_version
from shop.catalogue.services import MAX_IMAGE_BYTES
from shop.decoration.blocks import GATED_FEATURES, SLUG_RE, clean_blocks, resolve_blocks
from shop.decoration.models import HOME, Page, PageVersion

MAX_PAGES = 100
RESERVED_SLUGS = {HOME, "new"}
RENDER_CACHE_SECONDS = 60


def _errors(**fields: Any) -> ValidationError:
    return ValidationError({k: v if isinstance(v, list) else [v] for k, v in fields.items()})


def _clean_title(title: Any) -> str:
    if not isinstance(title, str):
        raise _errors(title=_("Enter a title."))
    title = " ".join(title.split())
    if len(title) > 60:
        raise _errors(title=_("Use at most 60 characters."))
    return title


def home_page() -> Page:
    """The shop's home page, created on first use (shops come from a schema pool, so no data
    migration could have made it); two first requests at once both get the same row."""
    page = Page.objects.filter(slug=HOME).first()
    if page is not None:
        return page
    try:
        with transaction.atomic():
            return Page.objects.create(slug=HOME, title=_("Home"))
    except IntegrityError:
        return Page.objects.get(slug=HOME)


def page_get(slug: str) -> Page | None:
    if slug == HOME:
        return home_page()
    return Page.objects.filter(slug=slug).first()


def page_create(*, slug: Any, title: Any) -> Page:
    slug = slug.strip().lower() if isinstance(slug, str) else ""
    errors: dict[str, str] = {}
    if not SLUG_RE.match(slug):
        errors["slug"] = _("Use 1–60 lowercase letters, digits and “-”, starting and ending with a letter or digit.")
    elif slug in RESERVED_SLUGS:
        errors["slug"] = _("This address is reserved.")
    try:
        title = _clean_title(title)
    except ValidationError as exc:
        errors["title"] = exc.message_dict["title"][0]
    if not errors and not title:
        errors["title"] = _("Enter a title.")
    if errors:
        raise _errors(**errors)
    home_page()
    if Page.objects.count() >= MAX_PAGES:
        raise _errors(slug=_("A shop has at most %(n)s pages.") % {"n": MAX_PAGES})
    try:
        with transaction.atomic():
            return Page.objects.create(slug=slug, title=title)
    except IntegrityError as exc:
        raise _errors(slug=_("There is already a page at this address.")) from exc


class DraftConflict(ValidationError):
    """The draft changed since the editor loaded it (another tab, another colleague)."""


def page_save_draft(page: Page, data: dict[str, Any], *, tenant: Any) -> Page:
    """Replace the draft with ``data["blocks"]`` (and the title, if sent) after checking all
    of it: on any error nothing is written. With ``data["revision"]`` (the ``revision`` the
    editor loaded) a draft changed meanwhile is refused with ``DraftConflict``."""
    if "blocks" not in data:
        raise _errors(blocks=_("Send the page's blocks."))
    blocks = clean_blocks(data["blocks"], tenant=tenant)
    title = _clean_title(data["title"]) if "title" in data else page.title
    if "title" in data and not title and not page.is_home:
        raise _errors(title=_("Enter a title."))
    revision = data.get("revision")
    if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)):
        raise _errors(revision=_("Send the revision number the editor loaded."))
    with transaction.atomic():
        locked = Page.objects.select_for_update().get(pk=page.pk)
        if revision is not None and revision != locked.draft_revision:
            raise DraftConflict(
                {
                    "revision": [
                        _("This page was changed elsewhere since you opened it. Reload to see the latest draft.")
                    ]
                }
            )
        locked.draft_blocks = blocks
        locked.title = title
        locked.draft_revision += 1
        locked.save(update_fields=["draft_blocks", "title", "draft_revision", "updated_at"])
    page.refresh_from_db()
    return page


def _go_live(page: Page, blocks: list[dict[str, Any]], *, by: str, rolled_back_from: int | None) -> PageVersion:
    """Inside the caller's transaction, with ``page`` locked."""
    now = timezone.now()
    page.version += 1
    page.published_blocks = blocks
    page.published_title = page.title
    page.published_at = now
    page.save(update_fields=["version", "published_blocks", "published_title", "published_at", "updated_at"])
    return PageVersion.objects.create(
        page=page,
        number=page.version,
        title=page.title,
        blocks=blocks,
        published_at=now,
        published_by=by[:254],
        rolled_back_from=rolled_back_from,
    )


def page_publish(page: Page, *, tenant: Any, by: str = "") -> PageVersion:
    """The draft goes live as a new version. The draft was checked when saved; it is checked
    again for shape and plan (a block the tier lost is refused), not for products deleted
    since: those are simply left out when the page renders."""
    with transaction.atomic():
        locked = Page.objects.select_for_update().get(pk=page.pk)
        blocks = clean_blocks(locked.draft_blocks, tenant=tenant, check_references=False)
        version = _go_live(locked, blocks, by=by, rolled_back_from=None)
    page.refresh_from_db()
    return version


def page_rollback(page: Page, number: Any, *, tenant: Any, by: str = "") -> PageVersion:
    """Publish an earlier version again (as a new version) and make it the draft too."""
    from platform_core.parsing import as_id

    pk = as_id(number)
    if pk is None:
        raise _errors(version=_("Choose a version."))
    with transaction.atomic():
        locked = Page.objects.select_for_update().get(pk=page.pk)
        old = PageVersion.objects.filter(page=locked, number=pk).first()
        if old is None:
            raise _errors(version=_("This page has no version %(n)s.") % {"n": pk})
        try:
            blocks = clean_blocks(old.blocks, tenant=tenant, check_references=False)
        except ValidationError as exc:
            raise _errors(version=[_("This version cannot be published on your current plan."), *exc.messages]) from exc
        locked.title = old.title or locked.title
        locked.draft_blocks = blocks
        locked.draft_revision += 1
        locked.save(update_fields=["title", "draft_blocks", "draft_revision", "updated_at"])
        version = _go_live(locked, blocks, by=by, rolled_back_from=old.number)
    page.refresh_from_db()
    return version


def page_delete(page: Page) -> None:
    if page.is_home:
        raise _errors(slug=_("The home page cannot be deleted."))
    page.delete()


def _current_tenant() -> Any:
    """The shop the connection is in (a real Tenant row even under ``schema_context``)."""
    from django.db import connection
    from django_tenants.utils import get_tenant_model

    tenant = getattr(connection, "tenant", None)
    if tenant is None or not hasattr(tenant, "tier"):
        tenant = get_tenant_model().objects.get(schema_name=connection.schema_name)  # type: ignore[attr-defined]
    return tenant


def page_for_render(slug: str, *, draft: bool = False, tenant: Any = None) -> dict[str, Any] | None:
    """``{"slug", "title", "version", "published_at", "blocks": [{"id", "type", "config",
    "data"}]}`` with every block's data resolved, for the theme (a Liquid section named
    ``block-<type>`` per block) and the mini-program API. The published page by default,
    the draft with ``draft=True`` (for console staff's preview). None for a page that does
    not exist, or a custom page never published; the home page always answers (no blocks
    until its first publish). Blocks whose feature the shop's tier lacks are left out."""
    if tenant is None:
        tenant = _current_tenant()
    page = page_get(slug)
    if page is None or (not draft and not page.is_published and not page.is_home):
        return None
    if draft:
        return {
            "slug": page.slug,
            "title": page.title,
            "version": None,
            "published_at": None,
            "draft": True,
            "blocks": resolve_blocks(page.draft_blocks, tenant=tenant),
        }
    plan = "".join("1" if has_feature(tenant, f) else "0" for f in GATED_FEATURES)
    key = f"decoration:page:{page.slug}:{page.version}:{catalogue_version()}:{plan}"
    cached = cache.get(key)
    if cached is None:
        cached = {
            "slug": page.slug,
            "title": page.published_title or page.title,
            "version": page.version,
            "published_at": page.published_at.isoformat() if page.published_at else None,
            "draft": False,
            "blocks": resolve_blocks(page.published_blocks, tenant=tenant),
        }
        # Short: marketing data (coupons, flash sales) is not in the key.
        cache.set(key, cached, RENDER_CACHE_SECONDS)
    return dict(cached)


def image_upload(upload: Any) -> str:
    """An image for a banner or a hotspot block (or an image setting of the theme), checked by
    platform_core.images, stored in the shop's media under a random name; its URL."""
    checked = checked_upload(upload, MAX_IMAGE_BYTES, "image", _("The image is larger than 5 MB."))
    name = default_storage.save(f"decoration/{secrets.token_hex(8)}.{checked.ext}", ContentFile(checked.data))
    return str(default_storage.url(name))
