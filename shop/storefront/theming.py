"""Rendering a storefront page through the shop's active theme.

``render_page(request, "templates/product", {...})`` resolves the shop's theme (the
published choice, or the draft when console staff preview with ``?preview=draft``),
builds the globals every template sees, renders the page template and then the theme's
layout around it, and answers with a CSP header. A published override that fails is
logged for the merchant and the page is rendered again from the theme alone; if even the
theme fails the shopper gets a plain apology page, never a stack trace or a blank page.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render as django_render
from django.urls import reverse
from django.utils import translation
from liquid.exceptions import LiquidError
from markupsafe import Markup

from platform_core.features import has_feature
from shop.storefront.models import DEFAULT_THEME, OverrideFailure, ShopTheme, TemplateOverride
from themes import engine, settings_schema, strings
from themes.models import BASE_THEME, Theme, ThemeVersion

log = logging.getLogger(__name__)

_versions: dict[int, ThemeVersion] = {}
_versions_lock = threading.Lock()


def version_by_id(version_id: int) -> ThemeVersion | None:
    """Theme versions are immutable: cache them in process memory for good."""
    found = _versions.get(version_id)
    if found is None:
        found = ThemeVersion.objects.select_related("theme").filter(pk=version_id).first()
        if found is not None:
            with _versions_lock:
                _versions[version_id] = found
    return found


LATEST_TTL = 10.0  # seconds: shops following a theme see an operator's new version within this
_latest: dict[str, tuple[float, int | None]] = {}


def latest_version_id(theme_key: str) -> int | None:
    cached = _latest.get(theme_key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < LATEST_TTL:
        return cached[1]
    found = _latest_version_id(theme_key)
    _latest[theme_key] = (now, found)
    return found


def _latest_version_id(theme_key: str) -> int | None:
    row = ThemeVersion.objects.filter(theme__key=theme_key).order_by("-id").values_list("id", flat=True).first()
    if row is None and not ThemeVersion.objects.exists():
        from themes.catalogue import ensure_builtin_themes

        ensure_builtin_themes()
        row = ThemeVersion.objects.filter(theme__key=theme_key).order_by("-id").values_list("id", flat=True).first()
    return row


def offered_themes(tenant: Any) -> list[Theme]:
    return [t for t in Theme.objects.filter(is_active=True).exclude(key=BASE_THEME) if t.allows_tier(tenant.tier)]


def is_previewer(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


ROW_KEY = "storefront:theme-row"
ROW_TTL = 300


def published_row() -> dict[str, Any]:
    """The shop's published theme choice, cached per shop (the cache key carries the
    schema); every change goes through shop.storefront.services, which forgets it."""
    data = cache.get(ROW_KEY)
    if data is None:
        row = ShopTheme.current()
        data = {
            **row.published_state(),
            "revision": row.revision,
            "override_revision": row.override_revision,
            "has_draft": row.draft is not None,
        }
        cache.set(ROW_KEY, data, ROW_TTL)
    return dict(data)


def forget_published_row() -> None:
    """Drop the cached choice now and again at commit (a request between the two may have
    cached the state from before the change)."""
    cache.delete(ROW_KEY)
    transaction.on_commit(lambda: cache.delete(ROW_KEY), robust=True)


@dataclass
class Active:
    version: ThemeVersion
    settings: dict[str, Any]
    preview: bool
    revision: int
    override_revision: int
    overrides_key: Any  # None: no overrides in play
    draft_overrides: dict[str, str] | None = None
    custom: bool = False  # the shop's tier has template overrides (and its own assets)

    @property
    def theme_key(self) -> str:
        return self.version.theme.key


def resolve(request: HttpRequest) -> Active:
    tenant = request.tenant  # type: ignore[attr-defined]
    state = published_row()
    preview = False
    if request.GET.get("preview") == "draft" and is_previewer(request):
        row = ShopTheme.current()
        preview = True
        if row.draft:
            state = {**state, **row.draft}
    version = None
    if state.get("version_id"):
        version = version_by_id(int(state["version_id"]))
    if version is None or version.theme.key != state.get("theme_key"):
        latest = latest_version_id(str(state.get("theme_key") or DEFAULT_THEME))
        version = version_by_id(latest) if latest else None
    if version is None or not version.theme.allows_tier(tenant.tier):
        fallback = latest_version_id(DEFAULT_THEME)
        version = version_by_id(fallback) if fallback else None
    if version is None:
        raise RuntimeError("no theme is published")
    schema = version.settings_schema
    values = settings_schema.defaults(schema)
    stored = state.get("settings") or {}
    values.update({k: v for k, v in stored.items() if k in values})
    key: Any = None
    drafts = None
    custom = has_feature(tenant, "template_overrides")
    if custom:
        if preview:
            rows = TemplateOverride.objects.values_list("name", "draft", "source", "is_published")
            drafts = {n: (d if d is not None else s) for n, d, s, p in rows if d is not None or p}
            if drafts:
                key = ("draft", tenant.schema_name, hash(tuple(sorted(drafts.items()))), version.pk)
        elif state.get("override_revision"):
            key = ("override", tenant.schema_name, state["override_revision"], version.pk)
    return Active(
        version=version,
        settings=values,
        preview=preview,
        revision=int(state.get("revision") or 0),
        override_revision=int(state.get("override_revision") or 0),
        overrides_key=key,
        draft_overrides=drafts,
        custom=custom,
    )


def theme_layers(version: ThemeVersion) -> list[tuple[str, Mapping[str, str]]]:
    layers: list[tuple[str, Mapping[str, str]]] = [(version.theme.key, version.files)]
    if version.base_id:
        base = version_by_id(version.base_id)
        if base is not None:
            layers.append((BASE_THEME, base.files))
    return layers


def theme_environment(version: ThemeVersion) -> engine.SandboxEnvironment:
    return engine.environment(("theme", version.pk), lambda: theme_layers(version))


def override_environment(active: Active) -> engine.SandboxEnvironment | None:
    if active.overrides_key is None:
        return None

    def layers() -> list[tuple[str, Mapping[str, str]]]:
        if active.draft_overrides is not None:
            sources = active.draft_overrides
        else:  # read once per override revision, when its parsed templates are not cached yet
            sources = dict(TemplateOverride.objects.filter(is_published=True).values_list("name", "source"))
        return [("override", sources), *theme_layers(active.version)]

    return engine.environment(active.overrides_key, layers)


def asset_urls(version: ThemeVersion) -> dict[str, str]:
    urls: dict[str, str] = {}
    chain = [version]
    if version.base_id:
        base = version_by_id(version.base_id)
        if base is not None:
            chain.append(base)
    for v in reversed(chain):
        urls.update(v.assets)
    return urls


def shop_asset_urls(active: Active) -> dict[str, str]:
    """A custom-tier shop's own assets by name, cached per override revision (an upload
    bumps it)."""
    from shop.storefront.models import ThemeAsset

    key = f"storefront:assets:{active.override_revision}"
    found = cache.get(key)
    if found is None:
        found = dict(ThemeAsset.objects.values_list("name", "url"))
        cache.set(key, found, ROW_TTL)
    return dict(found)


def _css_settings(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key, value in values.items():
        if isinstance(value, str) and value in settings_schema.FONT_STACKS and key.endswith("font"):
            out[f"{key}_stack"] = settings_schema.FONT_STACKS[value]
    return out


def base_context(request: HttpRequest, active: Active) -> dict[str, Any]:
    """What every template sees. Never the CSP nonce: it is for the scripts the platform
    injects, and a template that could print it could run any script on the shop's origin."""
    from shop.members.auth import current_member
    from shop.storefront.views import cart_count

    tenant = request.tenant  # type: ignore[attr-defined]
    member = current_member(request)
    language = translation.get_language() or "zh-hans"
    return {
        "shop": {
            "name": tenant.name,
            "slug": tenant.slug,
            "currency": "CNY",
            "url": "/",
            "tier": tenant.tier,
        },
        "settings": _css_settings(active.settings),
        "theme": {"key": active.theme_key, "name": active.version.theme.name, "version": active.version.version},
        "customer": {"name": member.display_name, "id": member.pk} if member else None,
        "cart_count": cart_count(request),
        "request": {"path": request.path, "full_path": request.get_full_path(), "q": request.GET.get("q", "")},
        "csrf_token": get_token(request),
        "flash": _flash(request),
        "language": language,
        "languages": [{"code": code, "name": str(name)} for code, name in django_settings.LANGUAGES],
        "preview": active.preview,
        "urls": {
            "home": "/",
            "search": "/products/",
            "categories": "/categories/",
            "cart": "/cart/",
            "checkout": "/checkout/",
            "account": reverse("members:home"),
            "login": reverse("members:login"),
            "register": reverse("members:register"),
            "logout": reverse("members:logout"),
            "orders": reverse("member-orders:list"),
            "aftersales": "/account/aftersales/",
            "distributor": "/account/distributor/",
            "coupons": "/coupons/",
            "my_coupons": "/account/coupons/",
            "set_language": reverse("set_language"),
        },
    }


def _flash(request: HttpRequest) -> list[dict[str, str]]:
    """What the last form did (a coupon claimed...), once: Django's messages as text."""
    from django.contrib import messages

    return [{"level": m.level_tag or "info", "text": str(m.message)} for m in messages.get_messages(request)]


# A cached body is shared by every visitor, so it is rendered with this in place of the
# CSRF token; each response gets the visitor's own token put in (forms in decorated blocks).
CSRF_SLOT = "csrfslot0000000000000000000000000000000000000000000000000000000000"


def _record_failure(active: Active, problem: engine.TemplateProblem) -> None:
    try:
        with transaction.atomic():
            updated = OverrideFailure.objects.filter(
                name=problem.file[:80], message=problem.message[:500], override_revision=active.override_revision
            ).update(count=F("count") + 1)
            if not updated:
                OverrideFailure.objects.create(
                    name=problem.file[:80],
                    message=problem.message[:500],
                    line=problem.line,
                    override_revision=active.override_revision,
                )
    except IntegrityError:
        pass


def _prepare_blocks(env: engine.SandboxEnvironment, context: dict[str, Any]) -> dict[str, Any]:
    """Give each decoration block the section that renders it; a block type this theme has
    no section for is left out (never a broken page). Rich text is sanitised again here
    and marked safe: it is the only HTML a block may carry."""
    page = context.get("page")
    if not isinstance(page, dict) or not isinstance(page.get("blocks"), list):
        return context
    loader = env.loader
    blocks = []
    for block in page["blocks"]:
        if not isinstance(block, dict):
            continue
        section = f"sections/block-{block.get('type')}"
        if not isinstance(loader, engine.LayeredLoader) or loader.origin_of(section) is None:
            continue
        block = {**block, "section": section}
        if block.get("type") == "rich_text":
            from shop.decoration.blocks import sanitise_html

            html = str((block.get("config") or {}).get("html", ""))
            block["data"] = {**(block.get("data") or {}), "html": Markup(sanitise_html(html))}
        blocks.append(block)
    return {**context, "page": {**page, "blocks": blocks}}


PER_VISITOR = ("customer", "cart_count", "csrf_token", "flash")
BODY_TTL = 60


def render_html(
    request: HttpRequest,
    template: str,
    context: dict[str, Any] | Callable[[], dict[str, Any]],
    *,
    body_key: tuple[Any, ...] | None = None,
) -> str:
    """Render ``template`` inside the theme's layout. With ``body_key`` (what the page's
    content depends on: page version, catalogue version...) the body is cached and shared
    by every visitor — so it is rendered without per-visitor data (customer, cart, CSRF
    token), which only the layout sees."""
    active = resolve(request)
    nonce = getattr(request, "csp_nonce", None) or secrets.token_urlsafe(16)
    request.csp_nonce = nonce  # type: ignore[attr-defined]
    base = base_context(request, active)
    assets = asset_urls(active.version)
    if active.custom and active.override_revision:
        assets.update(shop_asset_urls(active))  # the shop's own assets win over the theme's
    state = engine.RenderState(currency="CNY", assets=assets, strings=strings.lookup)
    cache_key = None
    cached_body = None
    if body_key is not None and not active.preview:
        tier = request.tenant.tier  # type: ignore[attr-defined]
        parts = (
            template,
            body_key,
            active.version.pk,
            active.revision,
            active.override_revision,
            translation.get_language(),
            tier,
        )
        cache_key = "storefront:body:" + hashlib.sha1(repr(parts).encode()).hexdigest()
        cached_body = cache.get(cache_key)
    page_context = context() if callable(context) and cached_body is None else context if not callable(context) else {}
    full = {**base, **page_context}
    body_context = full
    if cache_key is not None:
        body_context = {k: v for k, v in full.items() if k not in PER_VISITOR}
        body_context["request"] = {"path": request.path, "full_path": request.path, "q": ""}
        body_context["csrf_token"] = CSRF_SLOT
    override_env = override_environment(active)
    if override_env is not None:
        try:
            page, body = _render_with_split(override_env, template, full, body_context, state, cached_body)
            if cache_key is not None and cached_body is None:
                cache.set(cache_key, body, BODY_TTL)
            return page
        except (LiquidError, RecursionError) as exc:
            problem = engine.describe(exc, template)
            log.warning("theme override failed, serving the theme's own template: %s", problem)
            if active.preview:
                raise
            _record_failure(active, problem)
            state.begin()  # the theme's own templates get a budget of their own
            cached_body = None
            if callable(context) and not page_context:
                page_context = context()
                full = {**base, **page_context}
                body_context = {k: v for k, v in full.items() if k not in PER_VISITOR}
                body_context["request"] = {"path": request.path, "full_path": request.path, "q": ""}
                body_context["csrf_token"] = CSRF_SLOT
    page, body = _render_with_split(theme_environment(active.version), template, full, body_context, state, cached_body)
    if cache_key is not None and cached_body is None:
        cache.set(cache_key, body, BODY_TTL)
    return page


def _render_with_split(
    env: engine.SandboxEnvironment,
    template: str,
    full: dict[str, Any],
    body_context: dict[str, Any],
    state: engine.RenderState,
    cached_body: str | None,
) -> tuple[str, str]:
    body = cached_body
    if body is None:
        body = engine.render(env, template, _prepare_blocks(env, body_context), state)
    page = engine.render(env, "layout/theme", {**full, "content_for_layout": Markup(body)}, state)
    if CSRF_SLOT in page:
        page = page.replace(CSRF_SLOT, str(full.get("csrf_token") or ""))
    return page, body


def _origin(url: str | None) -> str:
    parts = str(url or "").split("/")
    return "/".join(parts[:3]) if len(parts) >= 3 and parts[0] in ("http:", "https:") else ""


def csp_header(nonce: str) -> str:
    """Scripts only from this host (and Stripe.js when payments need it) or carrying this
    response's nonce; no plugins; forms post only here; framed only by this host (the
    console's preview)."""
    stripe = " ".join(
        o for o in {_origin(django_settings.STRIPE_JS_URL), _origin(django_settings.STRIPE_API_BASE)} if o
    )
    media = _origin(django_settings.AWS_S3_ENDPOINT_URL)
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}' {stripe}".strip(),
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob: {media}".strip(),
            f"frame-src 'self' {stripe}".strip(),
            f"connect-src 'self' {stripe}".strip(),
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ]
    )


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any] | Callable[[], dict[str, Any]],
    *,
    status: int = 200,
    body_key: tuple[Any, ...] | None = None,
) -> HttpResponse:
    try:
        html = render_html(request, template, context, body_key=body_key)
    except (LiquidError, RecursionError) as exc:
        problem = engine.describe(exc, template)
        if getattr(request, "csp_nonce", None) and _previewing(request):
            return django_render(request, "storefront/preview_error.html", {"problem": problem}, status=200)
        log.error("theme template failed: %s", problem)
        return django_render(request, "storefront/render_failed.html", {}, status=500)
    response = HttpResponse(html, status=status, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = csp_header(request.csp_nonce)  # type: ignore[attr-defined]
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "strict-origin-when-cross-origin"
    response["X-Frame-Options"] = "SAMEORIGIN"  # the console's preview frames the storefront
    if request.GET.get("preview") == "draft":
        response["Cache-Control"] = "no-store"
    return response


def _previewing(request: HttpRequest) -> bool:
    return request.GET.get("preview") == "draft" and is_previewer(request)
