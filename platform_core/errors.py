"""The 500 handler of both URLconfs. A database that cannot be reached (restarting,
failing over, out of connections) is not a bug of the page: it answers 503 with
``Retry-After`` (JSON on ``/api/``, a plain page elsewhere, neither touching the database),
and the next request after PostgreSQL returns is served as usual (connections are checked
before reuse, ``CONN_HEALTH_CHECKS``). Anything else is the usual 500."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.defaults import server_error as django_server_error

RETRY_AFTER_SECONDS = 5
DATABASE_DOWN = (OperationalError, InterfaceError)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    language = translation.get_language_from_request(request)
    with translation.override(language):
        detail = _("The service is briefly unavailable. Please try again in a few seconds.")
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"code": "service_unavailable", "detail": detail}, status=503)
        else:
            body = render_to_string(
                "platform_core/service_unavailable.html", {"detail": detail, "LANGUAGE_CODE": language}
            )
            response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    exc = sys.exc_info()[1]
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # the database error may be the cause
        if isinstance(exc, DATABASE_DOWN):
            return database_unavailable(request)
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return django_server_error(request)
