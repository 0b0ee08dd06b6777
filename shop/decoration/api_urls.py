"""Mounted at /api/v1/ on a shop's host."""

from django.urls import URLPattern, URLResolver, path

from shop.decoration import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("console/blocks/", api.ConsoleBlockTypes.as_view(), name="api-console-blocks"),
    path("console/decoration/images/", api.ConsoleDecorationImages.as_view(), name="api-console-decoration-images"),
    path("console/pages/", api.ConsolePages.as_view(), name="api-console-pages"),
    path("console/pages/<slug:slug>/", api.ConsolePage.as_view(), name="api-console-page"),
    path("console/pages/<slug:slug>/draft/", api.ConsolePageDraft.as_view(), name="api-console-page-draft"),
    path("console/pages/<slug:slug>/publish/", api.ConsolePagePublish.as_view(), name="api-console-page-publish"),
    path("console/pages/<slug:slug>/versions/", api.ConsolePageVersions.as_view(), name="api-console-page-versions"),
    path("console/pages/<slug:slug>/rollback/", api.ConsolePageRollback.as_view(), name="api-console-page-rollback"),
    path("pages/<slug:slug>/", api.StorefrontPage.as_view(), name="api-page"),
]
