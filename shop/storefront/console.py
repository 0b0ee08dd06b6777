"""Merchant console: the shop's theme (choose, settings form generated from the theme's
schema, phone-sized live preview of the draft, publish, history and rollback) and, on the
custom tier, the Liquid override editor."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext
from django.utils.translation import gettext as _

from platform_core.features import FeatureError, has_feature
from platform_core.scoping import ConsoleView
from shop.members.views import form_errors
from shop.models import can_edit_theme_code
from shop.storefront import services
from shop.storefront.models import (
    OverrideFailure,
    OverrideVersion,
    ShopTheme,
    TemplateOverride,
    ThemeAsset,
    ThemePublication,
)
from shop.storefront.theming import offered_themes
from themes import settings_schema
from themes.models import ThemeVersion


def _actor(request: HttpRequest) -> str:
    return f"staff:{request.user.pk}"


class ThemeConsole(ConsoleView):
    def _page(self, errors: dict[str, list[str]] | None = None, status: int = 200) -> HttpResponse:
        row = ShopTheme.current()
        state = services.draft_state(row)
        themes = offered_themes(self.shop)
        for theme in themes:  # the preview image of each theme's latest version, words translated
            theme.name = gettext(theme.name)
            theme.description = gettext(theme.description)
            latest = theme.latest_version()
            theme.preview_url = (latest.assets.get(latest.manifest.get("preview", "")) if latest else None) or ""  # type: ignore[attr-defined]
        chosen = next((t for t in themes if t.key == state["theme_key"]), None)
        versions = list(chosen.versions.order_by("-id")[:20]) if chosen else []
        version = next((v for v in versions if v.pk == state.get("version_id")), versions[0] if versions else None)
        fields = []
        for entry in version.settings_schema if version else []:
            fields.append(
                {
                    **entry,
                    "label": gettext(str(entry.get("label", entry["id"]))),
                    "value": (state.get("settings") or {}).get(entry["id"], entry.get("default")),
                    "options": [o["value"] if isinstance(o, dict) else o for o in entry.get("options", [])],
                    "fonts": list(settings_schema.FONT_STACKS) if entry["type"] == "font" else [],
                    "errors": (errors or {}).get(entry["id"], []),
                }
            )
        return self.render(
            "storefront/console/theme.html",
            {
                "row": row,
                "state": state,
                "themes": themes,
                "versions": versions,
                "version": version,
                "fields": fields,
                "errors": errors or {},
                "history": ThemePublication.objects.all()[:20],
                "can_override": has_feature(self.shop, "template_overrides"),
                "can_edit_code": can_edit_theme_code(self.request.user),
                # overrides of the live revision that failed on the storefront, with the reason
                "failures": list(OverrideFailure.objects.filter(override_revision=row.override_revision)[:20])
                if has_feature(self.shop, "template_overrides")
                else [],
            },
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page()

    def post(self, request: HttpRequest) -> HttpResponse:
        action = request.POST.get("action", "")
        try:
            if action == "choose":
                services.theme_choose(self.shop, request.POST.get("theme"))
                messages.success(request, _("Theme chosen. Preview it, then publish."))
            elif action == "settings":
                data: dict[str, Any] = {k[len("s_") :]: v for k, v in request.POST.items() if k.startswith("s_")}
                row = ShopTheme.current()
                pinned = services.draft_state(row).get("version_id")
                version = ThemeVersion.objects.filter(pk=int(pinned)).first() if pinned else None
                schema = (
                    version.settings_schema
                    if version
                    else services._version_for(self.shop, services.draft_state(row)["theme_key"]).settings_schema
                )
                for entry in schema:
                    if entry["type"] == "checkbox" and entry["id"] not in data:
                        data[entry["id"]] = False  # unticked checkboxes are not sent
                    upload = request.FILES.get(f"f_{entry['id']}")
                    if entry["type"] == "image" and upload is not None:
                        from shop.decoration.services import image_upload

                        try:  # checked by content, size and pixel count
                            data[entry["id"]] = image_upload(upload)
                        except ValidationError as exc:
                            raise ValidationError({entry["id"]: exc.message_dict.get("image", exc.messages)}) from exc
                services.settings_save_draft(self.shop, data)
                messages.success(request, _("Draft saved. The preview shows it."))
            elif action == "pin":
                services.theme_pin(self.shop, request.POST.get("version") or None)
            elif action == "publish":
                services.theme_publish(self.shop, actor=_actor(request))
                messages.success(request, _("Published: shoppers see it now."))
            elif action == "discard":
                services.theme_discard_draft()
            elif action == "rollback":
                services.theme_rollback(self.shop, request.POST.get("revision"), actor=_actor(request))
                messages.success(request, _("Rolled back and published."))
        except ValidationError as exc:
            return self._page(form_errors(exc), status=400)
        return HttpResponseRedirect(request.path)


class OverrideConsole(ConsoleView):
    """The code editor: the owner's, or a staff member's the owner allowed (template code
    runs on the storefront, on the console's origin)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if user.is_authenticated and user.is_staff and not can_edit_theme_code(user):  # type: ignore[union-attr]
            return render(request, "storefront/console/code_forbidden.html", {"shop": request.tenant}, status=403)  # type: ignore[attr-defined]
        return super().dispatch(request, *args, **kwargs)

    def _page(
        self, *, name: str = "", source: str | None = None, problem: Any = None, errors: Any = None, status: int = 200
    ) -> HttpResponse:
        if not has_feature(self.shop, "template_overrides"):
            return self.render("storefront/console/overrides_locked.html", {}, status=403)
        version = services._active_version()
        names = services.template_names(version)
        current = TemplateOverride.objects.filter(name=name).first() if name else None
        if source is None and name:
            if current is not None:
                source = current.draft if current.draft is not None else current.source
            else:
                for _origin, files in services.theme_layers(version):
                    if name in files:
                        source = files[name]
                        break
        return self.render(
            "storefront/console/overrides.html",
            {
                "names": names,
                "name": name,
                "source": source or "",
                "current": current,
                "overrides": TemplateOverride.objects.all(),
                "problem": problem,
                "errors": errors or {},
                "versions": OverrideVersion.objects.filter(name=name)[:20] if name else [],
                "failures": OverrideFailure.objects.all()[:20],
                "assets": ThemeAsset.objects.all(),
            },
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(name=request.GET.get("name", ""))

    def post(self, request: HttpRequest) -> HttpResponse:
        action = request.POST.get("action", "")
        name = request.POST.get("name", "")
        try:
            if action == "save":
                source = request.POST.get("source", "")
                uploaded = request.FILES.get("source_file")
                if uploaded is not None:  # a .liquid file from the brand's own repository
                    try:
                        source = uploaded.read(services.MAX_OVERRIDE_CHARS * 4 + 1).decode("utf-8")
                    except UnicodeDecodeError:
                        raise ValidationError({"source": [_("Upload the template as UTF-8 text.")]}) from None
                _row, problem = services.override_save_draft(self.shop, name, source)
                if problem:
                    return self._page(name=name, source=source, problem=problem, status=400)
                messages.success(request, _("Draft saved; it renders without errors. Preview it, then publish."))
            elif action == "publish":
                services.override_publish(self.shop, name, actor=_actor(request))
                messages.success(request, _("Published."))
            elif action == "remove":
                services.override_remove(self.shop, name, actor=_actor(request))
                messages.success(request, _("The theme's own template is back."))
            elif action == "rollback":
                services.override_rollback(self.shop, request.POST.get("version"), actor=_actor(request))
                messages.success(request, _("Rolled back and published."))
            elif action == "asset_upload":
                asset = services.asset_upload(self.shop, request.FILES.get("file"), request.POST.get("asset_name", ""))
                messages.success(request, _("%(name)s uploaded.") % {"name": asset.name})
            elif action == "asset_delete":
                services.asset_delete(self.shop, request.POST.get("asset_name", ""))
        except FeatureError:
            return self._page(status=403)
        except ValidationError as exc:
            return self._page(name=name, source=request.POST.get("source"), errors=form_errors(exc), status=400)
        return HttpResponseRedirect(f"{request.path}?name={name}")
