"""Merchant console pages for decoration: the list of pages (add a custom page) and the
block editor (palette, drag to reorder, forms built from the registry's field spec, live
preview at phone width). The editor is one vanilla JS file talking to the console API."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from platform_core.scoping import ConsoleView
from shop.decoration import blocks, selectors, services


class PageList(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render({}, {})

    def _render(self, form: dict[str, str], errors: dict[str, list[str]], status: int = 200) -> HttpResponse:
        pages = [{**selectors.page_summary(p), "url": blocks.page_url(p.slug)} for p in selectors.page_list()]
        return self.render(
            "decoration/console/pages.html", {"pages": pages, "form": form, "errors": errors}, status=status
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        if request.POST.get("delete"):
            return self._delete(request, request.POST["delete"])
        form = {"slug": request.POST.get("slug", ""), "title": request.POST.get("title", "")}
        try:
            page = services.page_create(slug=form["slug"], title=form["title"])
        except ValidationError as exc:
            return self._render(form, exc.message_dict, status=400)
        messages.success(request, _("Page created."))
        return HttpResponseRedirect(reverse("decoration-console:editor", args=[page.slug]))

    def _delete(self, request: HttpRequest, slug: str) -> HttpResponse:
        page = services.page_get(slug)
        if page is None:
            raise Http404
        try:
            services.page_delete(page)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Page deleted."))
        return HttpResponseRedirect(reverse("decoration-console:pages"))


def editor_strings() -> dict[str, str]:
    """What the editor's script says, translated here (the script has no catalogue)."""
    return {
        "up": _("Move up"),
        "down": _("Move down"),
        "remove": _("Remove"),
        "add": _("Add"),
        "add_item": _("Add an item"),
        "remove_item": _("Remove this item"),
        "item": _("Item"),
        "saving": _("Saving…"),
        "saved": _("Draft saved."),
        "publishing": _("Publishing…"),
        "published": _("Published: version %(n)s."),
        "rolled_back": _("Version %(n)s is live again (as version %(m)s)."),
        "rollback": _("Roll back to this version"),
        "rollback_confirm": _("Publish version %(n)s again? Your current draft is replaced by it."),
        "remove_confirm": _("Remove this block?"),
        "errors": _("Some blocks need fixing: see the messages next to the fields."),
        "failed": _("Something went wrong. Try again."),
        "unsaved": _("Unsaved changes"),
        "empty": _("No blocks yet: add one from the palette."),
        "choose_block": _("Choose a block to configure it."),
        "none": _("None"),
        "upload": _("Upload an image"),
        "uploading": _("Uploading…"),
        "search_products": _("Search products by name"),
        "search": _("Search"),
        "no_results": _("No products found."),
        "live": _("live"),
        "version": _("Version"),
        "by": _("by"),
        "rolled_back_from": _("rollback of %(n)s"),
        "link_none": _("No link"),
        "link_product": _("Product"),
        "link_category": _("Category"),
        "link_page": _("Page"),
        "link_search": _("Search"),
        "link_url": _("Web address"),
        "id": _("Id"),
        "ids_hint": _("Ids separated by commas."),
        "no_coupons": _("No coupons yet: create one under Marketing → Coupons."),
        "coupon_ended": _("ended"),
        "leave": _("You have unsaved changes."),
    }


class PageEditor(ConsoleView):
    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        page = services.page_get(slug)
        if page is None:
            raise Http404
        return self.render(
            "decoration/console/editor.html",
            {
                "page": page,
                "preview_url": f"{blocks.page_url(page.slug)}?preview=draft",
                "editor": {
                    "api": f"/api/v1/console/pages/{page.slug}/",
                    "blocks": "/api/v1/console/blocks/",
                    "images": "/api/v1/console/decoration/images/",
                    "products": "/api/v1/console/products/",
                    "categories": "/api/v1/console/categories/",
                    "coupons": "/api/v1/console/marketing/coupons/",
                    "pages": "/api/v1/console/pages/",
                    "strings": editor_strings(),
                },
            },
        )
