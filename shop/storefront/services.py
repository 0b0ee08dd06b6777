"""Changing a shop's theme: choose a theme, edit its settings as a draft, preview, publish,
roll back; on the custom tier, Liquid overrides with their own drafts, publications and
rollback. Every publish is one transaction on the locked ShopTheme row, and bumps the
revision the render caches are keyed by."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from liquid.exceptions import LiquidError

from platform_core.features import require_feature
from shop.storefront.models import OverrideVersion, ShopTheme, TemplateOverride, ThemePublication
from shop.storefront.theming import forget_published_row, latest_version_id, theme_layers, version_by_id
from themes import analysis, engine, settings_schema
from themes.models import BASE_THEME, Theme, ThemeVersion

MAX_OVERRIDES = 100
MAX_OVERRIDE_CHARS = 100_000
OVERRIDE_FOLDERS = ("layout/", "templates/", "sections/", "snippets/")


def _locked() -> ShopTheme:
    """The shop's theme row, locked for a change; the render cache of the published
    choice is dropped once the change commits."""
    ShopTheme.current()
    forget_published_row()
    return ShopTheme.objects.select_for_update().get(pk=1)


def _version_for(tenant: Any, key: Any, version_id: Any = None) -> ThemeVersion:
    theme = Theme.objects.filter(key=str(key or ""), is_active=True).exclude(key=BASE_THEME).first()
    if theme is None:
        raise ValidationError({"theme": [_("Choose one of the themes offered.")]})
    if not theme.allows_tier(tenant.tier):
        raise ValidationError({"theme": [_("This theme is not available on your plan.")]})
    if version_id not in (None, ""):
        try:
            found = theme.versions.filter(pk=int(version_id)).first()
        except (TypeError, ValueError):
            found = None
        if found is None:
            raise ValidationError({"version": [_("This theme has no such version.")]})
        return found
    latest = latest_version_id(theme.key)
    found = version_by_id(latest) if latest else None
    if found is None:
        raise ValidationError({"theme": [_("This theme has no published version yet.")]})
    return found


def draft_state(row: ShopTheme) -> dict[str, Any]:
    return dict(row.draft) if row.draft else row.published_state()


def theme_choose(tenant: Any, key: Any, *, version_id: Any = None, follow_latest: bool = True) -> ShopTheme:
    """Start (or change) the draft with theme ``key``. Another theme starts from its own
    defaults (its colours and layout are the point of choosing it), keeping only the shop's
    brand images (logo); the same theme keeps the draft's values."""
    version = _version_for(tenant, key, version_id)
    with transaction.atomic():
        row = _locked()
        current = draft_state(row)
        values = settings_schema.defaults(version.settings_schema)
        kept = current.get("settings") or {}
        same_theme = current.get("theme_key") == version.theme.key
        for entry in version.settings_schema:
            if entry["id"] in kept and (same_theme or entry["type"] == "image"):
                try:
                    values[entry["id"]] = settings_schema.clean_value(entry, kept[entry["id"]])
                except ValidationError:
                    pass
        row.draft = {
            "theme_key": version.theme.key,
            "version_id": None if follow_latest and version_id in (None, "") else version.pk,
            "settings": values,
        }
        row.save(update_fields=["draft"])
    return row


def settings_save_draft(tenant: Any, data: Any) -> ShopTheme:
    with transaction.atomic():
        row = _locked()
        state = draft_state(row)
        version = _version_for(tenant, state["theme_key"], state.get("version_id"))
        cleaned = settings_schema.clean_settings(version.settings_schema, data)
        row.draft = {**state, "settings": cleaned}
        row.save(update_fields=["draft"])
    return row


def theme_pin(tenant: Any, version_id: Any) -> ShopTheme:
    """Stay on one version of the draft's theme (``None``: follow the latest)."""
    with transaction.atomic():
        row = _locked()
        state = draft_state(row)
        if version_id in (None, ""):
            row.draft = {**state, "version_id": None}
        else:
            version = _version_for(tenant, state["theme_key"], version_id)
            row.draft = {**state, "version_id": version.pk}
        row.save(update_fields=["draft"])
    return row


def _publish(row: ShopTheme, state: dict[str, Any], actor: str, note: str = "") -> ShopTheme:
    row.theme_key = state["theme_key"]
    row.version_id = state.get("version_id")
    row.settings = state.get("settings") or {}
    row.revision += 1
    row.draft = None
    row.published_at = timezone.now()
    row.save()
    ThemePublication.objects.create(
        revision=row.revision,
        theme_key=row.theme_key,
        version_id=row.version_id,
        settings=row.settings,
        published_by=actor[:120],
        note=note[:200],
    )
    return row


def theme_publish(tenant: Any, *, actor: str) -> ShopTheme:
    with transaction.atomic():
        row = _locked()
        if not row.draft:
            raise ValidationError({"draft": [_("There are no unpublished changes.")]})
        state = dict(row.draft)
        version = _version_for(tenant, state["theme_key"], state.get("version_id"))
        state["settings"] = settings_schema.clean_settings(version.settings_schema, state.get("settings") or {})
        return _publish(row, state, actor)


def theme_rollback(tenant: Any, revision: Any, *, actor: str) -> ShopTheme:
    try:
        found = ThemePublication.objects.filter(revision=int(revision)).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise ValidationError({"revision": [_("No such publication.")]})
    version = _version_for(tenant, found.theme_key, found.version_id)
    state = {
        "theme_key": found.theme_key,
        "version_id": found.version_id,
        "settings": settings_schema.clean_settings(version.settings_schema, found.settings, partial=True),
    }
    with transaction.atomic():
        return _publish(_locked(), state, actor, note=_("Rolled back to publication %(n)s") % {"n": found.revision})


def theme_discard_draft() -> ShopTheme:
    with transaction.atomic():
        row = _locked()
        row.draft = None
        row.save(update_fields=["draft"])
    return row


# --- overrides (custom tier) --------------------------------------------------------------------
def template_names(version: ThemeVersion) -> list[str]:
    names: set[str] = set()
    for _origin, files in theme_layers(version):
        names.update(files)
    return sorted(names)


def _active_version() -> ThemeVersion:
    row = ShopTheme.current()
    version = version_by_id(row.version_id) if row.version_id else None
    if version is None:
        latest = latest_version_id(row.theme_key)
        version = version_by_id(latest) if latest else None
    if version is None:
        raise ValidationError({"theme": [_("No theme is published.")]})
    return version


def _check_name(name: Any) -> str:
    name = engine.normalise(str(name or ""))
    if not name.startswith(OVERRIDE_FOLDERS) or not name.split("/", 1)[1] or len(name) > 80:
        raise ValidationError({"name": [_("Name a template of the theme, like templates/product.")]})
    if not all(ch.isalnum() or ch in "/-_" for ch in name):
        raise ValidationError({"name": [_("Use letters, digits, -, _ and / in template names.")]})
    return name


SAMPLE_PRODUCT = {
    "id": 1,
    "name": "Sample",
    "subtitle": "",
    "price": 1000,
    "max_price": 1000,
    "price_varies": False,
    "sold": 3,
    "image": "",
    "url": "/products/1/",
    "description": "",
    "images": [],
    "specs": [],
    "skus": [{"id": 1, "label": "", "price": 1000, "list_price": None, "stock": 5, "code": ""}],
    "single_sku": 1,
    "in_stock": 5,
    "sold_out": False,
    "attributes": [],
    "category": None,
}


def override_problem(name: str, source: str) -> dict[str, Any] | None:
    """A syntax, budget or runtime problem of ``source`` as an override of ``name`` — file,
    line, column and message — or None. The budget is checked statically over every branch
    (themes.analysis: a condition on the data cannot hide an amplification), for this
    template and for every page that can reach it, with the shop's other published
    overrides in place; then it is rendered once with sample data under the storefront's
    limits for what only running finds."""
    try:
        engine.SandboxEnvironment().from_string(source, name=name)
    except LiquidError as exc:
        return engine.describe(exc, name, source).as_dict()
    version = _active_version()
    published = dict(TemplateOverride.objects.filter(is_published=True).values_list("name", "source"))
    layers = [("override", {**published, name: source}), *theme_layers(version)]
    try:
        problems, _costs = analysis.worst_case(layers, analysis.entries_for(layers, name))
    except (LiquidError, RecursionError) as exc:
        return engine.describe(exc, name, source).as_dict()
    if problems:
        return problems[0].as_dict()
    env = engine.SandboxEnvironment(loader=engine.LayeredLoader(layers))
    context = {
        "shop": {"name": "Sample", "slug": "sample", "currency": "CNY", "url": "/"},
        "settings": settings_schema.defaults(version.settings_schema),
        "product": SAMPLE_PRODUCT,
        "products": [SAMPLE_PRODUCT],
        "page": {"slug": "home", "title": "", "blocks": []},
        "urls": {},
        "request": {"path": "/", "full_path": "/", "q": ""},
        "languages": [],
        "content_for_layout": "",
        "content_for_page": "",
    }
    state = engine.RenderState(strings=lambda key: key)
    try:
        engine.render(env, name, context, state)
    except (LiquidError, RecursionError) as exc:
        return engine.describe(exc, name, source).as_dict()
    return None


def override_save_draft(tenant: Any, name: Any, source: Any) -> tuple[TemplateOverride, dict[str, Any] | None]:
    require_feature(tenant, "template_overrides")
    name = _check_name(name)
    if not isinstance(source, str) or len(source) > MAX_OVERRIDE_CHARS or "\x00" in source:
        raise ValidationError({"source": [_("Send the template as text of at most 100,000 characters.")]})
    if name not in template_names(_active_version()) and not name.startswith("snippets/"):
        raise ValidationError({"name": [_("The theme has no template called %(name)s.") % {"name": name}]})
    with transaction.atomic():
        ShopTheme.current()
        ShopTheme.objects.select_for_update().get(pk=1)
        found = TemplateOverride.objects.filter(name=name).first()
        if found is None:
            if TemplateOverride.objects.count() >= MAX_OVERRIDES:
                raise ValidationError(
                    {"name": [_("A shop can override at most %(n)s templates.") % {"n": MAX_OVERRIDES}]}
                )
            found = TemplateOverride.objects.create(name=name, draft=source)
        else:
            found.draft = source
            found.save(update_fields=["draft", "updated_at"])
    return found, override_problem(name, source)


def override_publish(tenant: Any, name: Any, *, actor: str) -> TemplateOverride:
    """Publish the draft of ``name``; a draft with a syntax or runtime error is refused
    with its file and line, and nothing changes."""
    require_feature(tenant, "template_overrides")
    name = _check_name(name)
    with transaction.atomic():
        row = _locked()
        found = TemplateOverride.objects.select_for_update().filter(name=name).first()
        if found is None or found.draft is None:
            raise ValidationError({"name": [_("There is no draft of %(name)s to publish.") % {"name": name}]})
        problem = override_problem(name, found.draft)
        if problem is not None:
            raise ValidationError({"source": [f"{problem['file']}:{problem['line'] or '?'}: {problem['message']}"]})
        found.source = found.draft
        found.draft = None
        found.is_published = True
        found.save(update_fields=["source", "draft", "is_published", "updated_at"])
        row.override_revision += 1
        row.save(update_fields=["override_revision"])
        OverrideVersion.objects.create(
            name=name, source=found.source, revision=row.override_revision, published_by=actor
        )
    return found


def override_remove(tenant: Any, name: Any, *, actor: str) -> None:
    """Stop overriding ``name``: the theme's own template shows again."""
    require_feature(tenant, "template_overrides")
    name = _check_name(name)
    with transaction.atomic():
        row = _locked()
        found = TemplateOverride.objects.select_for_update().filter(name=name).first()
        if found is None:
            raise ValidationError({"name": [_("%(name)s is not overridden.") % {"name": name}]})
        was_published = found.is_published
        found.delete()
        if was_published:
            row.override_revision += 1
            row.save(update_fields=["override_revision"])
            OverrideVersion.objects.create(name=name, source=None, revision=row.override_revision, published_by=actor)


def override_rollback(tenant: Any, version_pk: Any, *, actor: str) -> None:
    """Publish an earlier publication of one override again (or its removal)."""
    require_feature(tenant, "template_overrides")
    try:
        old = OverrideVersion.objects.filter(pk=int(version_pk)).first()
    except (TypeError, ValueError):
        old = None
    if old is None:
        raise ValidationError({"version": [_("No such version.")]})
    with transaction.atomic():
        row = _locked()
        found = TemplateOverride.objects.select_for_update().filter(name=old.name).first()
        if old.source is None:
            if found is not None:
                found.delete()
        else:
            if found is None:
                found = TemplateOverride(name=old.name)
            found.source = old.source
            found.draft = None
            found.is_published = True
            found.save()
        row.override_revision += 1
        row.save(update_fields=["override_revision"])
        OverrideVersion.objects.create(
            name=old.name, source=old.source, revision=row.override_revision, published_by=actor
        )


# --- the shop's own assets (custom tier) ---------------------------------------------------------
ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,50}\.(css|png|jpg|jpeg|webp|gif)$")
MAX_CSS_BYTES = 200 * 1024
MAX_ASSET_IMAGE_BYTES = 2 * 1024 * 1024


def _css_problem(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _("A stylesheet must be UTF-8 text.")
    lowered = text.lower()
    if "\x00" in text or "</style" in lowered or "<script" in lowered or "expression(" in lowered:
        return _("This stylesheet contains markup or script; only CSS is allowed.")
    return None


def asset_upload(tenant: Any, upload: Any, name: Any = "") -> Any:
    """Store one of the shop's own assets, checked by content (a stylesheet is UTF-8 text
    with no markup; an image is opened and must be a JPEG, PNG, WebP or GIF within the
    size and pixel limits) under a content-hashed name; replaces an asset of that name."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from platform_core.images import checked_upload
    from shop.storefront.models import ThemeAsset

    require_feature(tenant, "template_overrides")
    if upload is None:
        raise ValidationError({"file": [_("Choose a file to upload.")]})
    name = str(name or getattr(upload, "name", "") or "").strip().lower()
    if not ASSET_NAME.match(name):
        raise ValidationError({"name": [_("Name it like brand.css or banner.png (letters, digits, - _ .).")]})
    ext = name.rsplit(".", 1)[1]
    if ext == "css":
        data = upload.read(MAX_CSS_BYTES + 1)
        if len(data) > MAX_CSS_BYTES:
            raise ValidationError({"file": [_("A stylesheet can be at most 200 KB.")]})
        problem = _css_problem(data)
        if problem:
            raise ValidationError({"file": [problem]})
        content_type = "text/css"
    else:
        checked = checked_upload(upload, MAX_ASSET_IMAGE_BYTES, "file", _("An image can be at most 2 MB."))
        data, ext, content_type = checked.data, checked.ext, checked.content_type
    digest = hashlib.sha256(data).hexdigest()[:12]
    stem = name.rsplit(".", 1)[0]
    stored = f"theme-assets/{stem}.{digest}.{ext}"  # the same name is the same content
    if not default_storage.exists(stored):
        stored = default_storage.save(stored, ContentFile(data))
    with transaction.atomic():
        row = _locked()
        asset, _created = ThemeAsset.objects.update_or_create(
            name=name,
            defaults={
                "url": str(default_storage.url(stored)),
                "storage_name": stored,
                "content_type": content_type,
                "size": len(data),
            },
        )
        row.override_revision += 1  # pages using it render afresh
        row.save(update_fields=["override_revision"])
    return asset


def asset_delete(tenant: Any, name: Any) -> None:
    from shop.storefront.models import ThemeAsset

    require_feature(tenant, "template_overrides")
    with transaction.atomic():
        row = _locked()
        deleted, _rows = ThemeAsset.objects.filter(name=str(name or "")).delete()
        if not deleted:
            raise ValidationError({"name": [_("There is no such asset.")]})
        row.override_revision += 1
        row.save(update_fields=["override_revision"])
