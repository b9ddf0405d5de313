"""The app's own 404 page under DJANGO_DEBUG too (the quick start, `make run`, runs in debug):
a person who mistypes a URL sees the site's page, not Django's list of URL patterns.

Django renders its technical 404 page whenever DEBUG is on, before any handler404; this
middleware replaces that page by the app's handler (aigsec/core/errors.py). A developer who
wants Django's page back sets DJANGO_DEBUG_404=1 (settings.DEBUG_404_PAGE). Outside debug it
does nothing: Django already calls handler404.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .errors import page_not_found

# A phrase of Django's technical 404 template (django/views/templates/technical_404.html).
_TECHNICAL = b"because you have <code>DEBUG = True</code>"


class AppNotFoundPageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and settings.DEBUG
            and not getattr(settings, "DEBUG_404_PAGE", False)
            and not response.streaming
            and _TECHNICAL in response.content
        ):
            return page_not_found(request)
        return response
